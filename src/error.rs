//! The one error type of the crate.
//!
//! Every public function that can fail on user data returns [`Result`]; every variant says
//! what is wrong and where (field, level, index), as data a program can read
//! ([`Error::field`], [`Error::level`], [`Error::index`]) as well as in its message.
//! [`Error::kind`] sorts the variants into four [`ErrorKind`]s: bad input, a problem with
//! no solution, a result that does not fit in `f64` (or an iteration that did not
//! converge), and a file that could not be read.
//!
//! ```
//! use hmaxent::{ErrorKind, Hierarchy, Problem, Temperatures};
//! let h = Hierarchy::new(vec![2, 1], vec![vec![0, 0]])?;
//! // Both states forbidden: no distribution exists.
//! let forbidden = Problem::new(&h, &[f64::INFINITY; 2])?;
//! let e = forbidden.solve(&Temperatures::new(&[1.0, 1.0])?).unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::Infeasible);
//! // Finite losses whose total overflows f64 are not forbidden: the answer does not fit.
//! let huge = Problem::new(&h, &[f64::MAX; 2])?.with_potentials(&[[f64::MAX]])?;
//! let e = huge.solve(&Temperatures::new(&[1.0, 1.0])?).unwrap_err();
//! assert_eq!(e.kind(), ErrorKind::Numerical);
//! # Ok::<(), hmaxent::Error>(())
//! ```

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The four kinds of failure, for code that reacts to the kind rather than the variant.
///
/// The command-line tool prints each as a fixed snake_case word (`invalid_input`,
/// `infeasible`, `numerical`, `io`; see `docs/cli.md`, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is malformed or outside its allowed range (wrong length, NaN, negative
    /// temperature, index out of range, a problem too large to tabulate, ...).
    InvalidInput,
    /// The input is valid but no distribution satisfies it: every state forbidden, a target
    /// outside the attainable set, an entropy floor above its maximum.
    Infeasible,
    /// A result that does not fit in `f64` (an overflow of finite input), or an iteration
    /// that did not converge within its budget.
    Numerical,
    /// A file could not be read or written.
    Io,
}

/// Everything that can go wrong in `hmaxent`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
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
    #[error("{}", level_sizes(*level, *size, *finer, *finer_size))]
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
    /// A coarse-graining map that does not define a hierarchy.
    #[error("the map to level {level} at level-0 state {state}: {reason}")]
    InvalidMap {
        /// The coarse level the map goes to.
        level: usize,
        /// The level-0 state where the map fails.
        state: usize,
        /// What is wrong.
        reason: &'static str,
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
    #[error("{field}[{index}] = {}: {reason}", Short(*.value))]
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
    #[error("setting `{field}` = {}: {reason}", Short(*.value))]
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
    #[error("target {} for E[f] is outside the attainable interval [{}, {}]", Short(*.target), Short(*.min), Short(*.max))]
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
    /// `theta·c < min_x theta·phi(x)` over the allowed states (docs/concepts.md, "12. Moment constraints").
    #[error("the targets lie outside the attainable set of the features: the direction theta = {} separates them, theta·c = {target_value:?} < min_x theta·phi(x) = {hull_min:?}", json_array(.direction))]
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
    /// A quantity computed from finite input does not fit in `f64`. Distinct from a forbidden
    /// state: `+inf` in the *input* forbids a state; an overflow in the *computation* is
    /// this error, never [`Error::AllForbidden`].
    #[error("{quantity}{} overflows f64", place(*.level, *.index))]
    Overflow {
        /// What overflowed, e.g. `the total loss` or `the renormalised loss g_2`.
        quantity: String,
        /// The level it belongs to, when there is one.
        level: Option<usize>,
        /// The state (user index at `level`) or entry, when there is one.
        index: Option<usize>,
    },
    /// An iterative solver stopped at its budget without meeting its tolerance.
    #[error("{solver} did not converge within {iterations} iterations (residual {residual:e})")]
    NotConverged {
        /// The solver, e.g. `the moment dual`.
        solver: String,
        /// Iterations used.
        iterations: usize,
        /// The residual it stopped at (gradient norm, interval width, ...).
        residual: f64,
    },
    /// A result does not fit in `f64`, or an iteration did not converge (other cases).
    #[error("{0}")]
    Numerical(String),
    /// A file could not be read.
    #[error("{0}")]
    Io(String),
}

impl Error {
    /// The kind of this error:
    ///
    /// * [`ErrorKind::Infeasible`]: [`Error::Infeasible`], [`Error::InfeasibleMoments`],
    ///   [`Error::InfeasibleProblem`], [`Error::AllForbidden`];
    /// * [`ErrorKind::Numerical`]: [`Error::Overflow`], [`Error::NotConverged`],
    ///   [`Error::Numerical`];
    /// * [`ErrorKind::Io`]: only [`Error::Io`];
    /// * [`ErrorKind::InvalidInput`]: every other variant.
    ///
    /// ```
    /// # use hmaxent::{ErrorKind, Temperatures};
    /// assert_eq!(Temperatures::new(&[-1.0]).unwrap_err().kind(), ErrorKind::InvalidInput);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Infeasible { .. }
            | Error::InfeasibleMoments { .. }
            | Error::InfeasibleProblem(_)
            | Error::AllForbidden(_) => ErrorKind::Infeasible,
            Error::Overflow { .. } | Error::NotConverged { .. } | Error::Numerical(_) => {
                ErrorKind::Numerical
            }
            Error::Io(_) => ErrorKind::Io,
            Error::LengthMismatch { .. }
            | Error::ParentOutOfRange { .. }
            | Error::LevelSizes { .. }
            | Error::TooLarge { .. }
            | Error::InvalidMap { .. }
            | Error::InvalidValue { .. }
            | Error::InvalidSetting { .. }
            | Error::InvalidInput(_) => ErrorKind::InvalidInput,
        }
    }

    /// The input field the error is about (`loss`, `potentials[1]`, `parents[0]`,
    /// `temperatures`, a setting's name, ...), when the variant names one.
    ///
    /// ```
    /// # use hmaxent::{Hierarchy, Problem};
    /// let h = Hierarchy::flat(3)?;
    /// let e = Problem::new(&h, &[0.0, f64::NAN, 0.0]).unwrap_err();
    /// assert_eq!((e.field(), e.index()), (Some("loss"), Some(1)));
    /// # Ok::<(), hmaxent::Error>(())
    /// ```
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::LengthMismatch { field, .. } | Error::InvalidValue { field, .. } => Some(field),
            Error::InvalidSetting { field, .. } => Some(field),
            Error::ParentOutOfRange { .. } => Some("parents"),
            _ => None,
        }
    }

    /// The level the error is about (0 = finest), when the variant names one.
    pub fn level(&self) -> Option<usize> {
        match self {
            Error::ParentOutOfRange { level, .. }
            | Error::LevelSizes { level, .. }
            | Error::InvalidMap { level, .. } => Some(*level),
            Error::Overflow { level, .. } => *level,
            _ => None,
        }
    }

    /// The index within [`Error::field`] (or the state within [`Error::level`]) the error is
    /// about, when the variant names one.
    pub fn index(&self) -> Option<usize> {
        match self {
            Error::InvalidValue { index, .. } => Some(*index),
            Error::ParentOutOfRange { state, .. } | Error::InvalidMap { state, .. } => Some(*state),
            Error::Overflow { index, .. } => *index,
            _ => None,
        }
    }

    pub(crate) fn overflow(
        quantity: impl Into<String>,
        level: Option<usize>,
        index: Option<usize>,
    ) -> Self {
        Error::Overflow {
            quantity: quantity.into(),
            level,
            index,
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

/// The message of [`Error::LevelSizes`]: an empty level, or one larger than the level below.
fn level_sizes(level: usize, size: usize, finer: usize, finer_size: usize) -> String {
    let rule = "level sizes must satisfy n_0 >= n_1 >= ... >= n_d >= 1";
    if size == 0 {
        format!("level {level} has no states; {rule}")
    } else {
        format!("level {level} has {size} states but level {finer} has {finer_size}; {rule}")
    }
}

/// ` at level k, state i` (the parts that are known).
fn place(level: Option<usize>, index: Option<usize>) -> String {
    match (level, index) {
        (Some(k), Some(i)) => format!(" at level {k}, state {i}"),
        (Some(k), None) => format!(" at level {k}"),
        (None, Some(i)) => format!(" at entry {i}"),
        (None, None) => String::new(),
    }
}

/// `[a, b, ...]` with every number in shortest round-trip form (a JSON array).
/// An `f64` in a message, in its shortest round-trip form: as `{}` prints it (`2`, `0.25`,
/// `-1.5`) for `1e-5 <= |x| < 1e16` and zero, else in exponent form (`1e308`, `-1e-300`,
/// `3.334007216439927e-59`; `{}` would print 309 digits or 300 zeros); `-0` prints `0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Short(pub f64);

impl std::fmt::Display for Short {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.0.abs();
        if a == 0.0 {
            write!(f, "0") // -0 too
        } else if !a.is_finite() || (1e-5..1e16).contains(&a) {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

fn json_array(xs: &[f64]) -> String {
    let items: Vec<String> = xs.iter().map(|x| format!("{x:?}")).collect();
    format!("[{}]", items.join(", "))
}
