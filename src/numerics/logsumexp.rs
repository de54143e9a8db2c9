//! Log-sum-exp of one slice: soft minimum, log-sum-exp, the Gibbs distribution of a block.

use super::real::Real;

/// Soft minimum `-s log sum_i exp(-g_i / s)` (docs/concepts.md, 'Theorem A'), computed with the minimum factored out.
///
/// `s = 0` gives `min g` (the zero-temperature limit); `+inf` entries weigh exactly 0; an
/// empty or all-`+inf` slice gives `+inf`.
pub fn soft_min<T: Real>(g: &[T], s: T) -> T {
    let m = min(g);
    if s == T::zero() || m == T::infinity() {
        return m;
    }
    let z = g
        .iter()
        .fold(T::zero(), |acc, &x| acc + (-(x - m) / s).exp());
    m - s * z.ln()
}

/// `log sum_i exp(a_i)` with the maximum factored out; `-inf` entries weigh 0, an empty or
/// all-`-inf` slice gives `-inf`.
pub fn log_sum_exp<T: Real>(a: &[T]) -> T {
    let m = a.iter().fold(T::neg_infinity(), |acc, &x| acc.max(x));
    if m == T::neg_infinity() {
        return m;
    }
    m + a.iter().fold(T::zero(), |acc, &x| acc + (x - m).exp()).ln()
}

/// Minimum of a slice (`+inf` when empty).
#[inline]
pub(crate) fn min<T: Real>(g: &[T]) -> T {
    g.iter().fold(T::infinity(), |acc, &x| acc.min(x))
}

/// The Gibbs distribution `p_i = exp(-(g_i - sm) / s)`, `sm = soft_min(g, s)`, into `out`.
/// An all-`+inf` block gives all zeros; `s = 0` gives the uniform distribution on the minimisers.
pub fn gibbs_into<T: Real>(g: &[T], s: T, out: &mut [T]) {
    let m = min(g);
    if m == T::infinity() {
        out.iter_mut().for_each(|p| *p = T::zero());
        return;
    }
    if s == T::zero() {
        let count = T::of(g.iter().filter(|&&x| x == m).count() as f64);
        for (p, &x) in out.iter_mut().zip(g) {
            *p = if x == m { T::one() / count } else { T::zero() };
        }
        return;
    }
    for (p, &x) in out.iter_mut().zip(g) {
        *p = -(x - m) / s;
    }
    T::exp_in_place(out);
    let z = out.iter().fold(T::zero(), |acc, &p| acc + p);
    out.iter_mut().for_each(|p| *p = *p / z);
}

/// `-p log p` with `0 log 0 = 0`.
#[inline]
pub(crate) fn entropy_term(p: f64) -> f64 {
    if p > 0.0 {
        -p * p.ln()
    } else {
        0.0
    }
}

/// The Gibbs distribution of the losses `x` at `s` into `p` and its entropy
/// `H = log z + sum_b p_b d_b`, `d_b = (x_b - min x) / s`, `z = sum_b exp(-d_b)`, in any
/// scalar (a chain's top-down pass in dual numbers); `+inf` entries get probability 0.
pub(crate) fn gibbs_entropy_real<T: Real>(x: &[T], s: T, p: &mut [T]) -> T {
    let m = min(x);
    let mut z = T::zero();
    for (pb, &xb) in p.iter_mut().zip(x) {
        *pb = if xb.value() == f64::INFINITY {
            T::zero()
        } else {
            (-(xb - m) / s).exp()
        };
        z = z + *pb;
    }
    let mut h = z.ln();
    for (pb, &xb) in p.iter_mut().zip(x) {
        if pb.value() > 0.0 {
            *pb = *pb / z;
            h = h + *pb * ((xb - m) / s);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_min_factors_out_the_minimum() {
        let g = [1e300, 1e300, f64::INFINITY];
        assert_eq!(soft_min(&g, 1.0), 1e300);
        let g = [0.0, 0.0];
        assert!((soft_min(&g, 1.0) + 2f64.ln()).abs() < 1e-15);
        assert_eq!(soft_min::<f64>(&[], 1.0), f64::INFINITY);
        assert_eq!(soft_min(&[3.0, 2.0], 0.0), 2.0);
    }
}
