//! The inverse problem: the multilevel surprisal of a distribution (docs/concepts.md, "5. Theorem A").

use crate::error::Result;
use crate::hierarchy::Hierarchy;
use crate::temperatures::Temperatures;

/// The multilevel surprisal of `p` (a distribution on level 0, user order):
///
/// ```text
/// f_P(x) = -sum_{k<d} S_k log P(y_k | y_{k+1}) - S_d log P(y_d)
/// ```
///
/// Solving Theorem A with loss `f_P` at the same temperatures returns `P` (when `P` has full
/// support; states with `P(x) = 0` get `f_P(x) = +inf`, i.e. are forbidden, which returns
/// `P` too), and `E_P f_P - F(f_P) = sum_k tau_k H_P(Y_k)` (tests
/// `surprisal_round_trip_returns_p`, proof `proofs/surprisal.md`).
///
/// `p` need not be normalised; it is normalised here.
///
/// # Errors
/// [`crate::Error::LengthMismatch`] for the wrong length or number of levels;
/// [`crate::Error::InvalidValue`] for a negative or non-finite entry; [`crate::Error::AllForbidden`] if
/// `p` sums to 0.
///
/// ```
/// # use hmaxent::{inverse::surprisal, Hierarchy, Problem, Temperatures};
/// let h = Hierarchy::new(vec![3, 2], vec![vec![0, 0, 1]])?;
/// let t = Temperatures::new(&[0.5, 2.0])?;
/// let p = [0.2, 0.3, 0.5];
/// let f = surprisal(&h, &p, &t)?;
/// let back = Problem::new(&h, &f)?.solve(&t)?.marginal(0);
/// assert!(back.iter().zip(&p).all(|(a, b)| (a - b).abs() < 1e-14));
/// # Ok::<(), hmaxent::Error>(())
/// ```
pub fn surprisal(
    hierarchy: &Hierarchy,
    p: &[f64],
    temperatures: &Temperatures,
) -> Result<Vec<f64>> {
    let h = hierarchy;
    temperatures.expect_levels(h.levels())?;
    let levels = h.push_forwards(h.distribution("p", p)?);
    // Top-down accumulation of -S_k log P(y_k | y_{k+1}).
    let d = h.depth();
    let surprise = |p: f64, parent: f64, s: f64| {
        if p > 0.0 {
            -s * (p / parent).ln()
        } else {
            f64::INFINITY
        }
    };
    let mut acc: Vec<f64> = levels[d]
        .iter()
        .map(|&q| surprise(q, 1.0, temperatures.cumulative(d)))
        .collect();
    for k in (0..d).rev() {
        let layout = h.layout(k);
        let s = temperatures.cumulative(k);
        let mut fine = vec![0.0; h.size(k)];
        for (y, &a) in acc.iter().enumerate() {
            let parent = levels[k + 1][y];
            for x in layout.block(y) {
                fine[x] = a + surprise(levels[k][x], parent, s);
            }
        }
        acc = fine;
    }
    let mut out = vec![0.0; acc.len()];
    h.to_user_order(0, &acc, &mut out);
    Ok(out)
}
