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
}
