//! The one error type of the crate.
//!
//! Every public function that can fail on user data returns [`Result`]; every variant says
//! what is wrong and where (field, level, index). [`Error::kind`] gives the stable word the
//! command-line tool prints (`invalid_input`, `infeasible`, `numerical`, `io`).

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in `hmaxent`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field has the wrong length.
    #[error("{field} has length {len}, expected {expected}")]
    LengthMismatch {
        /// The offending field.
        field: String,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
    /// A parent index points outside the next level.
    #[error("parents[{level}][{state}] = {parent} is outside 0..{len}")]
    ParentOutOfRange {
        /// Index into `parents` (the finer level, `k - 1`).
        level: usize,
        /// State of the finer level.
        state: usize,
        /// The parent index given.
        parent: usize,
        /// Size of the coarser level.
        len: usize,
    },
    /// Level sizes must not grow: `n_k <= n_{k-1}`, and every level has a state.
    #[error("level {level} has {size} states but level {finer} has {finer_size}; level sizes must satisfy n_0 >= n_1 >= ... >= n_d >= 1")]
    LevelSizes {
        /// The offending level.
        level: usize,
        /// Its size.
        size: usize,
        /// The level below it (`level - 1`; equal to `level` for an empty level).
        finer: usize,
        /// The size of that level.
        finer_size: usize,
    },
    /// A problem too large to tabulate.
    #[error("{what}: {states} states exceed the limit of {limit} for tabulated problems")]
    TooLarge {
        /// What was being built.
        what: String,
        /// The number of states asked for (saturated at `usize::MAX`).
        states: usize,
        /// The limit.
        limit: usize,
    },
    /// A number that must be finite (or `+inf` for losses) is not.
    #[error("{field}[{index}] = {value}: {reason}")]
    InvalidValue {
        /// The field, e.g. `loss` or `potentials[1]`.
        field: String,
        /// Index within the field.
        index: usize,
        /// The value given.
        value: f64,
        /// What is required.
        reason: &'static str,
    },
    /// A setting or scalar argument is out of its allowed range.
    #[error("setting `{field}` = {value}: {reason}")]
    InvalidSetting {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: f64,
        /// What is required.
        reason: &'static str,
    },
    /// Input that is malformed in some other way (used by the CLI for JSON errors).
    #[error("{0}")]
    InvalidInput(String),
    /// Every state is forbidden (loss `+inf`, zero reference mass, or forbidden parents).
    #[error("every state is forbidden: {0}")]
    AllForbidden(String),
    /// A mean target outside the attainable interval.
    #[error("target {target} for E[f] is outside the attainable interval [{min}, {max}]")]
    Infeasible {
        /// The requested `c`.
        target: f64,
        /// `min f` over allowed states.
        min: f64,
        /// `max f` over allowed states.
        max: f64,
    },
    /// Moment targets outside the attainable set, with a separating direction: `theta`
    /// (free on `=`, `>= 0` on `<=`, `<= 0` on `>=`) such that
    /// `theta·c < min_x theta·phi(x)` over the allowed states (SPEC §5).
    #[error("the targets lie outside the attainable set of the features: the direction theta = {} separates them, theta·c = {target_value} < min_x theta·phi(x) = {hull_min}", json_array(.direction))]
    InfeasibleMoments {
        /// The separating direction `theta` (one entry per constraint, the mean last).
        direction: Vec<f64>,
        /// `theta·c`.
        target_value: f64,
        /// `min_x theta·phi(x)` over the allowed states.
        hull_min: f64,
    },
    /// Another infeasible problem (moment targets, entropy floors), with an explanation.
    #[error("{0}")]
    InfeasibleProblem(String),
    /// A result does not fit in `f64`, or an iteration did not converge.
    #[error("{0}")]
    Numerical(String),
    /// A file could not be read.
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// The stable snake_case word for this error (the `<kind>` of the CLI's error line):
    ///
    /// * `infeasible`: [`Error::Infeasible`], [`Error::InfeasibleProblem`], [`Error::AllForbidden`];
    /// * `numerical`: [`Error::Numerical`];
    /// * `io`: [`Error::Io`];
    /// * `invalid_input`: every other variant.
    ///
    /// ```
    /// # use hmaxent::Temperatures;
    /// assert_eq!(Temperatures::new(&[-1.0]).unwrap_err().kind(), "invalid_input");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Infeasible { .. }
            | Error::InfeasibleMoments { .. }
            | Error::InfeasibleProblem(_)
            | Error::AllForbidden(_) => "infeasible",
            Error::Numerical(_) => "numerical",
            Error::Io(_) => "io",
            _ => "invalid_input",
        }
    }

    pub(crate) fn length(field: impl Into<String>, len: usize, expected: usize) -> Self {
        Error::LengthMismatch {
            field: field.into(),
            len,
            expected,
        }
    }
}

/// `[a, b, ...]` with every number in shortest round-trip form (a JSON array).
fn json_array(xs: &[f64]) -> String {
    let items: Vec<String> = xs.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", items.join(", "))
}
