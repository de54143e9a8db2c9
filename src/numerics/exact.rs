//! Sums and dot products to about one rounding of the result, whatever the cancellation and
//! the number of terms (Neumaier's compensated summation; each product split exactly into
//! its rounded value and its error by a fused multiply-add).
//!
//! They serve the checks an outside reader would repeat: `E_P[phi]` of a row offset by `3e6`
//! with spread `1`, added naively over 64 states, rounds by up to `64 eps 3e6 = 4e-8`, far more
//! than the `1e-9 (1 + spread)` an answer promises.

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

/// `sum (a_i b_i)` over `pairs`, each product split exactly (`a b = p + e` with
/// `e = fma(a, b, -p)`) and both parts added with compensation.
pub(crate) fn exact_dot(pairs: impl Iterator<Item = (f64, f64)>) -> f64 {
    let mut s = Compensated::default();
    for (a, b) in pairs {
        let p = a * b;
        s.add(p);
        s.add(a.mul_add(b, -p));
    }
    s.total()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An offset of `3e6` on 64 values of spread 1: the naive sum rounds visibly, the
    /// compensated dot product agrees with the sum taken about the offset (exact here).
    #[test]
    fn an_offset_row_is_summed_to_one_rounding() {
        let n = 64;
        let p: Vec<f64> = (0..n)
            .map(|i| (1.0 + i as f64) / (n * (n + 1) / 2) as f64)
            .collect();
        let phi: Vec<f64> = (0..n).map(|i| 3e6 + (i as f64 * 0.37).sin()).collect();
        let centred: f64 = p.iter().zip(&phi).map(|(p, v)| p * (v - 3e6)).sum();
        let total = compensated_sum(&p);
        let exact = 3e6 * total + centred;
        let dot = exact_dot(p.iter().copied().zip(phi.iter().copied()));
        assert!(
            (dot - exact).abs() <= 2.0 * f64::EPSILON * 3e6,
            "{dot} {exact}"
        );
        assert_eq!(compensated_sum(&[1e16, 1.0, -1e16]), 1.0);
        assert_eq!(exact_dot([(1e8, 1e8 + 1.0), (-1e8, 1e8)].into_iter()), 1e8);
    }
}
