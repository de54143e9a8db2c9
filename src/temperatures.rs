//! Level temperatures `tau_k` and their running sums `S_k` (docs/concepts.md, "1. Levels, coarse-graining, blocks").

use crate::error::{Error, Result};

/// Validated temperatures `tau_0..tau_d` with cumulative temperatures
/// `S_k = tau_0 + ... + tau_k`.
///
/// `tau_0 > 0` (uniqueness of the minimiser, docs/concepts.md, "5. Theorem A"), `tau_k >= 0`, all finite.
///
/// ```
/// # use hmaxent::Temperatures;
/// let t = Temperatures::new(&[0.5, 0.0, 2.0])?;
/// assert_eq!(t.cumulative(2), 2.5);
/// assert!(Temperatures::new(&[0.0, 1.0]).is_err());
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Temperatures {
    tau: Vec<f64>,
    cumulative: Vec<f64>,
}

impl Temperatures {
    /// Validates `tau` (one entry per level, finest first).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty list; [`Error::InvalidValue`] (naming the index)
    /// for a NaN, infinite or negative entry, or `tau_0 = 0`; [`Error::Overflow`] if a running
    /// sum overflows.
    pub fn new(tau: &[f64]) -> Result<Self> {
        validate_levels("temperatures", tau)?;
        let mut cumulative = Vec::with_capacity(tau.len());
        let mut s = 0.0;
        for (k, &t) in tau.iter().enumerate() {
            s += t;
            if !s.is_finite() {
                return Err(Error::overflow(
                    "the cumulative temperature S_k",
                    Some(k),
                    None,
                ));
            }
            cumulative.push(s);
        }
        Ok(Self {
            tau: tau.to_vec(),
            cumulative,
        })
    }

    /// Number of levels minus one (`d`).
    pub fn depth(&self) -> usize {
        self.tau.len() - 1
    }

    /// Number of levels (`d + 1`).
    pub fn levels(&self) -> usize {
        self.tau.len()
    }

    /// Checks that there is one temperature per level of a hierarchy with `levels` levels.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] naming `temperatures`.
    pub fn expect_levels(&self, levels: usize) -> Result<()> {
        if self.levels() == levels {
            Ok(())
        } else {
            Err(Error::length("temperatures", self.levels(), levels))
        }
    }

    /// `tau_k`.
    pub fn tau(&self, level: usize) -> f64 {
        self.tau[level]
    }

    /// `S_k = tau_0 + ... + tau_k`.
    pub fn cumulative(&self, level: usize) -> f64 {
        self.cumulative[level]
    }

    /// All `tau_k`, finest first.
    pub fn as_slice(&self) -> &[f64] {
        &self.tau
    }

    /// All `S_k`, finest first.
    pub fn cumulative_slice(&self) -> &[f64] {
        &self.cumulative
    }

    /// The same temperatures multiplied by `factor > 0` (finite).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] if `factor` is not positive and finite.
    pub fn scaled(&self, factor: f64) -> Result<Self> {
        if !(factor > 0.0 && factor.is_finite()) {
            return Err(Error::InvalidSetting {
                field: "factor",
                value: factor,
                reason: "must be positive and finite",
            });
        }
        let tau: Vec<f64> = self.tau.iter().map(|t| t * factor).collect();
        Self::new(&tau)
    }

    /// The same temperatures divided by `divisor > 0`, `tau_k / divisor` (exact where
    /// `scaled(1 / divisor)` would first round `1 / divisor`, subnormal beyond `4.5e307`).
    ///
    /// # Errors
    /// [`Error::Numerical`] if a quotient is not finite or `tau_0 / divisor` underflows to 0
    /// (the temperatures `w / lambda` of a multiplier `lambda` do not fit in `f64`).
    pub fn divided(&self, divisor: f64) -> Result<Self> {
        let tau: Vec<f64> = self.tau.iter().map(|t| t / divisor).collect();
        if divisor.is_nan() || divisor <= 0.0 || !tau.iter().all(|t| t.is_finite()) || tau[0] == 0.0
        {
            return Err(Error::Numerical(format!(
                "the temperatures w / {divisor:e} do not fit in f64 (w_0 = {:e})",
                self.tau[0]
            )));
        }
        Self::new(&tau)
    }
}

/// Checks a per-level weight vector: non-empty, finite, `>= 0`, first entry `> 0`.
pub(crate) fn validate_levels(field: &str, w: &[f64]) -> Result<()> {
    if w.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{field} must have one entry per level (got none)"
        )));
    }
    for (k, &t) in w.iter().enumerate() {
        if !t.is_finite() {
            return Err(Error::InvalidValue {
                field: field.to_string(),
                index: k,
                value: t,
                reason: "must be finite",
            });
        }
        if t < 0.0 {
            return Err(Error::InvalidValue {
                field: field.to_string(),
                index: k,
                value: t,
                reason: "must be non-negative",
            });
        }
    }
    if w[0] <= 0.0 {
        return Err(Error::InvalidValue {
            field: field.to_string(),
            index: 0,
            value: w[0],
            reason: "level 0 must be positive (uniqueness of the optimum)",
        });
    }
    Ok(())
}
