//! Centring and scaling the feature rows, one row at a time.
//!
//! The solver works with `phi'_i = (phi_i - o_i) / s_i` and `c'_i = (c_i - o_i) / s_i`, where
//! `s_i` is the spread `max phi_i - min phi_i` over the allowed states (`1` for a row constant
//! there) and `o_i` an offset inside the row's range. The constraints `E phi'_i = c'_i` are
//! those of the user (the map is affine and increasing, so senses are kept), the dual variables
//! are `theta'_i = s_i theta_i`, and the loss `theta'·phi' = theta·phi - theta·o` differs from
//! the user's by a constant, which changes `F` by `theta·o` and `P*` not at all
//! (`proofs/convex_dual.md`, "Scaled rows").
//!
//! So every row has spread 1: a row offset by `1e6` and a row of spread `1e-6` are both
//! resolved to the solver's precision, and the stopping rule tests each row against its own
//! scale (`|c_i - E phi_i| <= tol (1 + s_i)` is `|c'_i - E phi'_i| <= tol (1 + s_i) / s_i`).
//!
//! **Sparse rows stay sparse.** A sparse row that is zero on some allowed state has `0` in its
//! range, so it needs no offset (`o_i = 0`, values within `[-1, 1]` after scaling). A sparse
//! row that stores a value on every allowed state already costs as much memory as a dense
//! one on those states; it is centred as a dense row.

use super::features::Row;

/// The affine map of each row.
#[derive(Debug, Clone)]
pub(crate) struct Scaling {
    /// `o_i`.
    pub offset: Vec<f64>,
    /// `s_i > 0`.
    pub scale: Vec<f64>,
    /// `max phi_i - min phi_i` over the allowed states (`0` for a constant row).
    pub spread: Vec<f64>,
    /// `(min phi_i, max phi_i)` over the allowed states, in the user's units (`None` when
    /// no state is allowed).
    pub range: Vec<Option<(f64, f64)>>,
}

impl Scaling {
    /// `theta_i = theta'_i / s_i`.
    pub(crate) fn to_user(&self, theta: &[f64]) -> Vec<f64> {
        theta.iter().zip(&self.scale).map(|(t, s)| t / s).collect()
    }

    /// `theta'_i = s_i theta_i`.
    pub(crate) fn to_solver(&self, theta: &[f64]) -> Vec<f64> {
        theta.iter().zip(&self.scale).map(|(t, s)| t * s).collect()
    }

    /// `c_i = o_i + s_i c'_i` (expectations back in the user's units).
    pub(crate) fn value_to_user(&self, i: usize, v: f64) -> f64 {
        self.offset[i] + self.scale[i] * v
    }
}

/// `(min, max)` of `row` over the allowed states, and whether a sparse row is zero on some
/// allowed state (`None` when no state is allowed).
pub(crate) fn allowed_range(row: &Row, allowed: &[bool]) -> (Option<(f64, f64)>, bool) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let mut stored = 0usize;
    row.for_each(|x, v| {
        if allowed[x] {
            lo = lo.min(v);
            hi = hi.max(v);
            stored += 1;
        }
    });
    let n_allowed = allowed.iter().filter(|&&a| a).count();
    let implicit_zero = matches!(row, Row::Sparse { .. }) && stored < n_allowed;
    if implicit_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if n_allowed == 0 {
        return (None, implicit_zero);
    }
    (Some((lo, hi)), implicit_zero)
}

/// The centred and scaled rows and targets on the `allowed` states, with the map (module
/// docs). Values on forbidden states are set to 0: they never meet a distribution.
pub(crate) fn scale(
    rows: &[Row],
    targets: &[f64],
    allowed: &[bool],
) -> (Vec<Row>, Vec<f64>, Scaling) {
    let mut scaled = Vec::with_capacity(rows.len());
    let mut map = Scaling {
        offset: Vec::with_capacity(rows.len()),
        scale: Vec::with_capacity(rows.len()),
        spread: Vec::with_capacity(rows.len()),
        range: Vec::with_capacity(rows.len()),
    };
    for row in rows {
        let (range, implicit_zero) = allowed_range(row, allowed);
        let (lo, hi) = range.unwrap_or((0.0, 0.0));
        let spread = hi - lo;
        // A spread that overflows (values near +-f64::MAX) is halved into range.
        let (spread, s) = if spread.is_finite() {
            (spread, if spread > 0.0 { spread } else { 1.0 })
        } else {
            (f64::MAX, 0.5 * hi - 0.5 * lo)
        };
        let o = if implicit_zero {
            0.0
        } else {
            0.5 * lo + 0.5 * hi
        };
        let out = match row {
            Row::Sparse { index, value } if implicit_zero => {
                let (index, value) = index
                    .iter()
                    .zip(value)
                    .filter(|(&x, &v)| allowed[x] && v != 0.0)
                    .map(|(&x, &v)| (x, v / s))
                    .unzip();
                Row::Sparse { index, value }
            }
            _ => {
                let mut dense = vec![0.0; allowed.len()];
                row.for_each(|x, v| {
                    if allowed[x] {
                        dense[x] = (v - o) / s;
                    }
                });
                Row::Dense(dense)
            }
        };
        scaled.push(out);
        map.offset.push(o);
        map.scale.push(s);
        map.spread.push(spread);
        map.range.push(range);
    }
    let targets = targets
        .iter()
        .zip(map.offset.iter().zip(&map.scale))
        .map(|(c, (o, s))| (c - o) / s)
        .collect();
    (scaled, targets, map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_get_spread_one_and_sparse_rows_with_zeros_keep_their_sparsity() {
        let allowed = [true, true, true, false];
        let rows = vec![
            Row::Dense(vec![1e6 + 1.0, 1e6 + 1.0, 1e6, 7.0]),
            Row::Sparse {
                index: vec![0, 3],
                value: vec![-4.0, 9.0],
            },
        ];
        let (scaled, targets, map) = scale(&rows, &[1e6 + 0.25, -1.0], &allowed);
        match &scaled[0] {
            Row::Dense(v) => assert_eq!(v, &vec![0.5, 0.5, -0.5, 0.0]),
            Row::Sparse { .. } => panic!("a dense row stays dense"),
        }
        match &scaled[1] {
            Row::Sparse { index, value } => {
                assert_eq!(index, &vec![0]);
                assert_eq!(value, &vec![-1.0]);
            }
            Row::Dense(_) => panic!("a sparse row with zeros stays sparse"),
        }
        assert_eq!(map.spread, vec![1.0, 4.0]);
        assert_eq!(targets, vec![-0.25, -0.25]);
    }
}
