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
    log_sum_exp_of(a.iter().copied())
}

/// [`log_sum_exp`] of the values of an iterator (walked twice).
fn log_sum_exp_of<T: Real>(a: impl Iterator<Item = T> + Clone) -> T {
    let m = a.clone().fold(T::neg_infinity(), |acc, x| acc.max(x));
    if m == T::neg_infinity() {
        return m;
    }
    m + a.fold(T::zero(), |acc, x| acc + (x - m).exp()).ln()
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

/// `s log( sum_i w_i exp(h_i / s) / sum_i w_i )`, the weighted soft maximum of Theorem B's
/// recursion, accurate to a few ulps of the `h_i` whatever `s` (docs/concepts.md, "6. Theorem
/// B"), given each weight `w_i` and its logarithm `ln_w_i` (`w_i` may underflow to `0` where
/// `ln_w_i` is finite). The maximum `m` of the `h_i` of positive weight is factored out. Where
/// the weighted mean `r` of `exp((h_i - m) / s)` is at least `1/2` (high temperature: `r`
/// near `1`), `ln r` is `ln_1p` of the weighted mean of `exp_m1((h_i - m) / s)`, terms of one
/// sign, so `s ln r` keeps the relative accuracy of the `h_i - m` however large `s` is; below
/// `1/2`, `ln r` itself; and where a weight underflows, a log-sum-exp of `ln w_i + (h_i - m) /
/// s` minus that of the `ln w_i`. Entries with `ln w_i = -inf` or `h_i = -inf` add nothing to
/// the sum; none left gives `-inf`. One `exp` or `exp_m1` per entry when the `h_i` are within
/// `s ln 2` of each other (then `r >= 1/2` is known beforehand), else one or two.
pub(crate) fn weighted_soft_max(h: &[f64], w: &[f64], ln_w: &[f64], s: f64) -> f64 {
    let weighed = || (0..h.len()).filter(|&i| ln_w[i] > f64::NEG_INFINITY);
    let (mut m, mut low, mut tiny, mut dead) = (f64::NEG_INFINITY, f64::INFINITY, false, false);
    for i in weighed() {
        tiny |= w[i] < f64::MIN_POSITIVE;
        if h[i] > f64::NEG_INFINITY {
            m = m.max(h[i]);
            low = low.min(h[i]);
        } else {
            dead = true;
        }
    }
    if m == f64::NEG_INFINITY {
        return m;
    }
    let norm: f64 = weighed().map(|i| w[i]).sum();
    let near_one = |below: f64| m + s * (below / norm).ln_1p();
    // Entries with h = -inf contribute exp_m1(-inf) = -1.
    let below = || -> f64 { weighed().map(|i| w[i] * ((h[i] - m) / s).exp_m1()).sum() };
    if tiny {
        let a = |i: usize| ln_w[i] + (h[i] - m) / s;
        let live = weighed().filter(|&i| h[i] > f64::NEG_INFINITY);
        let total = log_sum_exp_of(weighed().map(|i| ln_w[i]));
        return m + s * (log_sum_exp_of(live.map(a)) - total);
    }
    if !dead && (m - low) / s < std::f64::consts::LN_2 {
        return near_one(below());
    }
    let r: f64 = weighed()
        .map(|i| w[i] * ((h[i] - m) / s).exp())
        .sum::<f64>()
        / norm;
    if r >= 0.5 {
        near_one(below())
    } else {
        m + s * r.ln()
    }
}

/// `w phi(e)`, `phi(e) = e exp(e) - (exp(e) - 1) = sum_{n >= 2} (n - 1) e^n / n! >= 0`, given
/// `w` and `ln w`: the share of one child in `D(P(.|y) || Q(.|y)) = sum_x Q(x|y) phi(e_x)`
/// when `P(x|y) = Q(x|y) exp(e_x)` (docs/concepts.md, "6. Theorem B"). Every term is
/// non-negative, so the sum keeps its relative accuracy as `P -> Q`, where `sum P log(P/Q)`
/// cancels. The series for `|e| < 1/16` (relative error below `1e-16`); above, `e t - (t -
/// 1)` with `t = exp(e)` (relative error below `4 eps / |e|`, `1.4e-14`); above `700`, `w +
/// (e - 1) exp(e + ln w)`, which does not overflow where `w exp(e) <= 1`. `e = -inf` (a
/// forbidden child) gives `w`.
pub(crate) fn divergence_share(e: f64, w: f64, ln_w: f64) -> f64 {
    if e == f64::NEG_INFINITY {
        return w;
    }
    if e.abs() < 0.0625 {
        // (n - 1) e^n / n! from n = 2, each term from the last: t_{n+1} = t_n e n / ((n - 1)(n + 1)).
        let (mut term, mut sum) = (0.5 * e * e, 0.0);
        for n in 2..16 {
            sum += term;
            if term.abs() <= 1e-17 * sum {
                break;
            }
            let n = n as f64;
            term *= e * n / ((n - 1.0) * (n + 1.0));
        }
        w * sum
    } else if e < 700.0 {
        let t = e.exp();
        w * (e * t - (t - 1.0))
    } else {
        w + (e - 1.0) * (e + ln_w).exp()
    }
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

    /// Against the plain formulas where they are accurate, in both branches (`r >= 1/2` at
    /// high temperature, the log-sum-exp below), with weights far below `f64`'s range and
    /// forbidden entries; and `phi` against its closed form away from `0`.
    #[test]
    fn weighted_soft_max_and_divergence_share_match_the_plain_formulas() {
        let h = [0.3, -1.2, f64::NEG_INFINITY, 2.0];
        let w = [0.2, 0.5, 0.1, 0.2];
        let ln_w: Vec<f64> = w.iter().map(|w: &f64| w.ln()).collect();
        for s in [0.05, 1.0, 3.0, 40.0] {
            let plain: f64 = h
                .iter()
                .zip(&w)
                .map(|(h, w)| w * (h / s).exp())
                .sum::<f64>();
            let want = s * plain.ln();
            let got = weighted_soft_max(&h, &w, &ln_w, s);
            assert!(
                (got - want).abs() <= 1e-14 * want.abs().max(1.0),
                "{s}: {got} {want}"
            );
        }
        // A weight of 1e-400 (its logarithm only) beside 1, at the larger h: equal shares.
        let got = weighted_soft_max(
            &[0.0, -921.0340371976183],
            &[0.0, 1.0],
            &[-921.0340371976183, 0.0],
            1.0,
        );
        assert!(
            (got - (2f64.ln() - 921.0340371976183)).abs() < 1e-12,
            "{got}"
        );
        assert_eq!(
            weighted_soft_max(
                &[f64::NEG_INFINITY, 1.0],
                &[1.0, 0.0],
                &[0.0, f64::NEG_INFINITY],
                1.0
            ),
            f64::NEG_INFINITY
        );
        for d in [-3.0, -0.7, 0.6, 2.5] {
            let want = 0.3 * (d * f64::exp(d) - f64::exp_m1(d));
            let got = divergence_share(d, 0.3, 0.3f64.ln());
            assert!((got - want).abs() <= 1e-14 * want, "{d}: {got} {want}");
        }
        // The series: phi(e) = e^2/2 + e^3/3 + e^4/8 + e^5/30 + ...
        for d in [1e-9f64, -1e-5, 0.01, -0.06, 0.0624] {
            let want = d * d / 2.0 + d.powi(3) / 3.0 + d.powi(4) / 8.0 + d.powi(5) / 30.0;
            let tail = d.powi(6) / 144.0 + d.powi(7) / 840.0 + d.powi(8) / 5760.0;
            let got = divergence_share(d, 1.0, 0.0);
            assert!(
                (got - want - tail).abs() <= 1e-4 * d.powi(9).abs() + 1e-15 * got,
                "{d}"
            );
        }
        assert_eq!(
            divergence_share(f64::NEG_INFINITY, 0.25, 0.25f64.ln()),
            0.25
        );
        // Far above 700 (Q(x|y) = e^-800): w + (e - 1) w e^e with w e^e = e^-50.
        let got = divergence_share(750.0, 0.0, -800.0);
        assert!((got - 749.0 * (-50f64).exp()).abs() <= 1e-15 * got, "{got}");
    }

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
