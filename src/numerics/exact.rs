//! Sums to about one rounding of the result, whatever the cancellation and the number of
//! terms (Neumaier's compensated summation).
//!
//! They serve the checks an outside reader would repeat: a feature offset by `o` moves
//! `E_P[phi]` by `o (sum P - 1)`, so `sum P` must be known (and made) exact to far better than
//! `n eps`: at `o = 3e6` with 64 states, `64 eps 3e6 = 4e-8`, far more than the
//! `1e-9 (1 + spread)` an answer promises.

/// Neumaier's running sum: `(sum, carry)`, whose total `sum + carry` is the exact sum of the
/// terms added to within about one rounding of it.
#[derive(Debug, Clone, Copy, Default)]
struct Compensated {
    sum: f64,
    carry: f64,
}

impl Compensated {
    #[inline]
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        self.carry += if self.sum.abs() >= v.abs() {
            (self.sum - t) + v
        } else {
            (v - t) + self.sum
        };
        self.sum = t;
    }

    fn total(self) -> f64 {
        self.sum + self.carry
    }
}

/// `sum_i a_i`, compensated.
pub(crate) fn compensated_sum(a: &[f64]) -> f64 {
    let mut s = Compensated::default();
    a.iter().for_each(|&v| s.add(v));
    s.total()
}

/// `1 - sum_i a_i`, with the sum's parts subtracted one at a time, so that for `a` summing to
/// about 1 the result is exact to a rounding of itself (not of the sum, `1.1e-16`).
pub(crate) fn deficit_from_one(a: &[f64]) -> f64 {
    let mut s = Compensated::default();
    a.iter().for_each(|&v| s.add(v));
    (1.0 - s.sum) - s.carry
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cancellation that a plain sum loses entirely, and the deficit of entries that sum to
    /// 1 only within rounding, exact to its own rounding.
    #[test]
    fn compensated_sums_keep_what_plain_sums_lose() {
        assert_eq!(compensated_sum(&[1e16, 1.0, -1e16]), 1.0);
        let p: Vec<f64> = (0..64).map(|i| (1.0 + i as f64) / 2080.0).collect();
        let plain: f64 = p.iter().sum();
        let deficit = deficit_from_one(&p);
        // Re-added with the deficit, the entries sum to 1 (the deficit is far below eps).
        assert!(deficit.abs() < 4.0 * f64::EPSILON, "{deficit} {plain}");
        let mut q = p.clone();
        q[63] += deficit;
        assert!(deficit_from_one(&q).abs() <= f64::EPSILON * q[63]);
    }
}
