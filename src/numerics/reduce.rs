//! Small reductions shared by the sweep and the constraint solvers.

use super::real::Real;

/// `a` and `b` agree to 4 ulps of the larger magnitude (used to recognise constraint
/// targets that sit on a boundary up to rounding).
#[inline]
pub(crate) fn nearly_equal(a: f64, b: f64) -> bool {
    (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs())
}

/// `sum_i f(a_i, b_i)` over the common length, with 8 partial sums so the reduction is
/// not bound by the latency of one addition chain (and vectorises; always inlined, so it
/// is compiled for the vector instructions of the kernel that calls it).
#[inline(always)]
pub(crate) fn sum_pairs<T: Real, F: Fn(T, T) -> T>(a: &[T], b: &[T], f: F) -> T {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let split = n / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for (ca, cb) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] = acc[i] + f(ca[i], cb[i]);
        }
    }
    finish_sum(acc, &a[split..], &b[split..], f)
}

/// The end of [`sum_pairs`]: the 8 partial sums `acc` added pairwise, then the tail
/// `sum_i f(a_i, b_i)` in order.
#[inline(always)]
pub(crate) fn finish_sum<T: Real, F: Fn(T, T) -> T>(acc: [T; 8], a: &[T], b: &[T], f: F) -> T {
    let tail = a.iter().zip(b).fold(T::zero(), |t, (&x, &y)| t + f(x, y));
    let half = |k: usize| (acc[k] + acc[k + 1]) + (acc[k + 2] + acc[k + 3]);
    (half(0) + half(4)) + tail
}

/// A compensated (Neumaier) running sum: `sum + carry` with the rounding error of every
/// addition kept in `carry`.
#[derive(Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    carry: f64,
}

impl CompensatedSum {
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.carry += if self.sum.abs() >= x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.carry
    }

    /// The compensated sum of `a`.
    pub(crate) fn of(a: &[f64]) -> Self {
        let mut s = Self::default();
        a.iter().for_each(|&v| s.add(v));
        s
    }

    /// `1 - (sum + carry)`, the parts subtracted one at a time: for terms that sum to about
    /// 1, exact to a rounding of the result itself (not of the sum, `1.1e-16`).
    pub(crate) fn deficit_from_one(&self) -> f64 {
        (1.0 - self.sum) - self.carry
    }
}

/// `sum_i a_i`, compensated: exact to about one rounding of the result whatever the
/// cancellation and the number of terms.
pub(crate) fn compensated_sum(a: &[f64]) -> f64 {
    CompensatedSum::of(a).value()
}

/// `1 - sum_i a_i` to a rounding of itself ([`CompensatedSum::deficit_from_one`]): what
/// entries that should sum to 1 still miss. A feature offset by `o` moves `E_P[phi]` by
/// `o (sum P - 1)`, so `sum P` must be made exact to far better than `n eps`.
pub(crate) fn deficit_from_one(a: &[f64]) -> f64 {
    CompensatedSum::of(a).deficit_from_one()
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
