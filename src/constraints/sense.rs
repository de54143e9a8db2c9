//! The sense of a moment constraint and the sign of its multiplier.

use super::newton::Bound;

/// The sense of one moment constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sense {
    /// `E[phi_i] = c_i` (multiplier free).
    Eq,
    /// `E[phi_i] <= c_i` (multiplier `>= 0`).
    Le,
    /// `E[phi_i] >= c_i` (multiplier `<= 0`).
    Ge,
}

impl Sense {
    /// The sign constraint of the multiplier of a row with this sense.
    pub(crate) fn bound(self) -> Bound {
        match self {
            Sense::Eq => Bound::Free,
            Sense::Le => Bound::NonNegative,
            Sense::Ge => Bound::NonPositive,
        }
    }

    /// Whether `value` meets `target` in this sense, up to `tol`.
    pub(crate) fn met(self, value: f64, target: f64, tol: f64) -> bool {
        match self {
            Sense::Eq => (value - target).abs() <= tol,
            Sense::Le => value <= target + tol,
            Sense::Ge => value >= target - tol,
        }
    }
}
