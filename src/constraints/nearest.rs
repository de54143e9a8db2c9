//! A separating direction from the geometry of the targets: the point of the attainable set
//! nearest to them (Wolfe's minimum-norm-point algorithm), polished on the face it lies on.
//!
//! In the coordinates `v_i(x) = (phi_i(x) - c_i) / s_i` (`s_i` the row's scale, so every row
//! counts alike) the constraints ask for a distribution `p` with `sum_x p(x) v(x)` in
//! `K = { z : z_i = 0 on =, z_i <= 0 on <=, z_i >= 0 on >= }`. They are infeasible exactly
//! when `0` is not in `P = conv{v(x)} + cone{e_i on <=, -e_i on >=}`, and then the point `y`
//! of `P` nearest to `0` separates: `y·p >= |y|^2 > 0` for every `p` in `P`, so
//! `theta_i = y_i / s_i` has the multipliers' signs (`y·e_i >= 0` on `<=` rows, `y·(-e_i) >= 0`
//! on `>=` rows) and `theta·(phi(x) - c) >= |y|^2` on every allowed state
//! (`proofs/convex_dual.md`, §3).
//!
//! **Why a polish.** Targets `1e-9` outside a face give `|y| ~ 1e-9` while `|v(x)| ~ 1`:
//! `y` computed as a point (a combination of the `v(x)`) carries absolute errors of `eps |v|`
//! in every direction, a relative error of `1e-7` in the direction of `y`, enough to turn
//! `theta·(phi(x) - c)` negative on the face. So Wolfe's algorithm (Wolfe 1976, in plain
//! `f64`) only finds the face: its final corral `S` and the rays it uses. The direction is
//! then the component of `v(x_0)` orthogonal to the face's affine hull, written in an
//! orthonormal basis of that complement (accurate to `eps` in angle): `theta·(v(x) - v(x_0))`
//! vanishes to `eps |theta|` on `S` while `theta·v(x_0) = |theta|^2`. A `<=` (`>=`) row whose
//! component comes out with the wrong sign is a slack row: its ray joins the face (the
//! component becomes 0) and the polish is repeated.
//!
//! Whatever the arithmetic, the direction is returned only after
//! [`super::feasibility::separation`] has checked it in the user's units.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::feasibility::separation;
use super::features::Row;
use super::newton::{dot, max_abs, norm};
use super::sense::Sense;
use crate::error::Error;

/// The slacks (relative to `|y| max|v|`) of the faces that the corral's direction exposes.
const SLACKS: [f64; 4] = [1e-12, 1e-10, 1e-8, 1e-6];

/// Above this many entries `n m` of the matrix of `v(x)` no certificate is polished.
const MAX_ENTRIES: usize = 1 << 26;
/// Major iterations of Wolfe's algorithm at most (each adds one point or ray).
const MAX_MAJOR: usize = 1000;
/// Singular values below this fraction of the largest span no direction of a face.
const RANK_CUT: f64 = 1e-12;

/// A certificate that the targets are infeasible, found from their nearest point (module
/// docs) and checked by [`separation`]; `None` when none separates beyond rounding.
///
/// `rows`, `targets` in the user's units (block order), `scale` the rows' scales `s_i > 0`.
pub(crate) fn nearest_certificate(
    rows: &[Row],
    allowed: &[bool],
    targets: &[f64],
    senses: &[Sense],
    scale: &[f64],
) -> Option<Error> {
    let geometry = Geometry::new(rows, allowed, targets, senses, scale)?;
    let corral = geometry.wolfe();
    // The corral's face first, then its faces without its lightest points (a point Wolfe's
    // algorithm keeps with a weight near rounding can make the corral span every direction),
    // then the faces its direction exposes with growing slack.
    let mut faces = vec![corral.points.clone()];
    faces.extend(corral.heaviest());
    let exposed: Vec<Vec<usize>> = match geometry.combination(&corral) {
        Some(y) => (SLACKS.iter())
            .map(|&slack| geometry.exposed(&y, slack))
            .collect(),
        None => Vec::new(),
    };
    for face in &exposed {
        if !faces.contains(face) {
            faces.push(face.clone());
        }
    }
    let certify = |face: &Vec<usize>, rays: &[usize]| {
        let y = geometry.polish(face, rays)?;
        let theta: Vec<f64> = y.iter().zip(scale).map(|(y, s)| y / s).collect();
        separation(rows, allowed, targets, &theta)
    };
    if let Some(e) = faces.iter().find_map(|face| certify(face, &corral.rays)) {
        return Some(e);
    }
    // Wolfe's corral can stop short when the targets lie within rounding-sized distances
    // (`1e-9`) of a face: it keeps the ray of an inequality row that the certificate needs
    // (the row is tight, not slack) and misses a point of the face. So the corral's points
    // with the states its direction exposes, and those without any one point, each with the
    // corral's rays and with every ray but one.
    let mut rays = vec![corral.rays.clone()];
    rays.extend(without_one(&corral.rays));
    let mut more: Vec<Vec<usize>> = Vec::new();
    for face in &exposed {
        let mut union = corral.points.clone();
        for &j in face {
            if !union.contains(&j) {
                union.push(j);
            }
        }
        for face in std::iter::once(union.clone()).chain(without_one(&union)) {
            if !face.is_empty() && !faces.contains(&face) && !more.contains(&face) {
                more.push(face);
            }
        }
    }
    more.iter()
        .find_map(|face| rays.iter().find_map(|rays| certify(face, rays)))
}

/// `v` without its `k`-th entry, for each `k` in turn.
fn without_one(v: &[usize]) -> impl Iterator<Item = Vec<usize>> + '_ {
    (0..v.len()).map(move |k| {
        let mut fewer = v.to_vec();
        fewer.remove(k);
        fewer
    })
}

impl Corral {
    /// The corral's points without its `k` lightest, for `k = 1..len - 1` (heaviest first,
    /// ties in the corral's order).
    fn heaviest(&self) -> impl Iterator<Item = Vec<usize>> + '_ {
        let mut order: Vec<usize> = (0..self.points.len()).collect();
        order.sort_by(|&a, &b| self.weights[b].total_cmp(&self.weights[a]));
        (1..self.points.len())
            .rev()
            .map(move |keep| order[..keep].iter().map(|&j| self.points[j]).collect())
    }
}

/// The points `v(x)` of the allowed states (row-major, `m` per state) and the rays.
struct Geometry {
    m: usize,
    v: Vec<f64>,
    /// `+1` on `<=` rows (ray `e_i`), `-1` on `>=` rows (ray `-e_i`), `0` on `=` rows.
    ray: Vec<f64>,
}

/// Wolfe's corral: points (indices into the allowed states) with their weights, and rays.
#[derive(Debug, Clone)]
struct Corral {
    points: Vec<usize>,
    weights: Vec<f64>,
    rays: Vec<usize>,
    ray_weights: Vec<f64>,
}

impl Geometry {
    fn new(
        rows: &[Row],
        allowed: &[bool],
        targets: &[f64],
        senses: &[Sense],
        scale: &[f64],
    ) -> Option<Self> {
        let m = rows.len();
        let states: Vec<usize> = (0..allowed.len()).filter(|&x| allowed[x]).collect();
        if m == 0 || states.is_empty() || states.len().saturating_mul(m) > MAX_ENTRIES {
            return None;
        }
        let mut column = vec![usize::MAX; allowed.len()];
        for (j, &x) in states.iter().enumerate() {
            column[x] = j;
        }
        let mut v = vec![0.0; states.len() * m];
        for (i, row) in rows.iter().enumerate() {
            let (c, s) = (targets[i], scale[i]);
            for j in 0..states.len() {
                v[j * m + i] = -c / s;
            }
            row.for_each(|x, value| {
                if column[x] != usize::MAX {
                    v[column[x] * m + i] = (value - c) / s;
                }
            });
        }
        let ray = senses
            .iter()
            .map(|s| match s {
                Sense::Eq => 0.0,
                Sense::Le => 1.0,
                Sense::Ge => -1.0,
            })
            .collect();
        Some(Self { m, v, ray })
    }

    fn point(&self, j: usize) -> &[f64] {
        &self.v[j * self.m..(j + 1) * self.m]
    }

    fn states(&self) -> usize {
        self.v.len() / self.m
    }

    /// `sum_j w_j v(x_j) + sum_r a_r ray_r`.
    fn combination(&self, c: &Corral) -> Option<Vec<f64>> {
        let mut y = vec![0.0; self.m];
        for (&j, &w) in c.points.iter().zip(&c.weights) {
            for (y, v) in y.iter_mut().zip(self.point(j)) {
                *y += w * v;
            }
        }
        for (&i, &a) in c.rays.iter().zip(&c.ray_weights) {
            y[i] += a * self.ray[i];
        }
        y.iter().all(|v| v.is_finite()).then_some(y)
    }

    /// The states with `y·v(x) <= min + slack (1 + |y| max |v|)`.
    fn exposed(&self, y: &[f64], slack: f64) -> Vec<usize> {
        let along: Vec<f64> = (0..self.states()).map(|j| dot(y, self.point(j))).collect();
        let lo = along.iter().copied().fold(f64::INFINITY, f64::min);
        let big = max_abs(&self.v);
        let tol = slack * norm(y) * big;
        (0..along.len()).filter(|&j| along[j] <= lo + tol).collect()
    }

    /// Wolfe's minimum-norm point of `P` (module docs), in plain `f64`: the final corral.
    fn wolfe(&self) -> Corral {
        let first = (0..self.states())
            .min_by(|&a, &b| norm(self.point(a)).total_cmp(&norm(self.point(b))))
            .unwrap_or(0);
        let mut corral = Corral {
            points: vec![first],
            weights: vec![1.0],
            rays: vec![],
            ray_weights: vec![],
        };
        let big = self.v.iter().fold(0.0f64, |a, v| a.max(v * v)) * self.m as f64;
        for _ in 0..MAX_MAJOR {
            let Some(y) = self.combination(&corral) else {
                break;
            };
            let yy = dot(&y, &y);
            if yy <= 1e-30 * big {
                break;
            }
            // The atom that decreases y·p most.
            let (best, best_value) = (0..self.states())
                .map(|j| (j, dot(&y, self.point(j))))
                .fold(
                    (usize::MAX, f64::INFINITY),
                    |a, b| if b.1 < a.1 { b } else { a },
                );
            let ray = (0..self.m)
                .filter(|i| self.ray[*i] != 0.0 && !corral.rays.contains(i))
                .map(|i| (i, self.ray[i] * y[i]))
                .fold((usize::MAX, 0.0), |a, b| if b.1 < a.1 { b } else { a });
            let add_ray = ray.0 != usize::MAX && ray.1 < -1e-15 * yy.sqrt();
            if !add_ray && (best_value >= yy * (1.0 - 1e-12) || corral.points.contains(&best)) {
                break;
            }
            if add_ray {
                corral.rays.push(ray.0);
                corral.ray_weights.push(0.0);
            } else {
                corral.points.push(best);
                corral.weights.push(0.0);
            }
            if !self.minor_cycles(&mut corral) {
                break;
            }
        }
        corral
    }

    /// Wolfe's minor cycles: moves the weights towards the affine minimiser of the corral
    /// until it lies inside, dropping atoms whose weight reaches 0. `false` if the affine
    /// problem cannot be solved.
    fn minor_cycles(&self, corral: &mut Corral) -> bool {
        for _ in 0..=corral.points.len() + corral.rays.len() {
            let Some((alpha, beta)) = self.affine_minimiser(corral) else {
                return false;
            };
            let inside = alpha.iter().all(|&a| a > 0.0) && beta.iter().all(|&b| b >= 0.0);
            if inside {
                corral.weights = alpha;
                corral.ray_weights = beta;
                return true;
            }
            // The largest step from the weights towards (alpha, beta) that keeps them >= 0.
            let old = corral.weights.iter().chain(&corral.ray_weights);
            let new = alpha.iter().chain(&beta);
            let t = old
                .zip(new)
                .filter(|(_, &n)| n <= 0.0)
                .map(|(&o, &n)| if o - n > 0.0 { o / (o - n) } else { 0.0 })
                .fold(1.0f64, f64::min);
            let mix = |w: &mut Vec<f64>, a: &[f64]| {
                for (w, a) in w.iter_mut().zip(a) {
                    *w = (1.0 - t) * *w + t * a;
                }
            };
            mix(&mut corral.weights, &alpha);
            mix(&mut corral.ray_weights, &beta);
            // Drop the atoms at zero weight (at least one).
            let keep: Vec<bool> = corral.weights.iter().map(|&w| w > 0.0).collect();
            let keep_rays: Vec<bool> = corral.ray_weights.iter().map(|&w| w > 0.0).collect();
            let filter = |v: &mut Vec<usize>, w: &mut Vec<f64>, keep: &[bool]| {
                let mut k = keep.iter();
                v.retain(|_| *k.next().unwrap_or(&false));
                let mut k = keep.iter();
                w.retain(|_| *k.next().unwrap_or(&false));
            };
            filter(&mut corral.points, &mut corral.weights, &keep);
            filter(&mut corral.rays, &mut corral.ray_weights, &keep_rays);
            if corral.points.is_empty() {
                return false;
            }
            let total: f64 = corral.weights.iter().sum();
            corral.weights.iter_mut().for_each(|w| *w /= total);
        }
        false
    }

    /// The minimiser of `|y|` over the affine hull of the corral's points plus the span of
    /// its rays: point weights `alpha` (summing to 1) and ray weights `beta` (free).
    fn affine_minimiser(&self, corral: &Corral) -> Option<(Vec<f64>, Vec<f64>)> {
        let (k, r) = (corral.points.len(), corral.rays.len());
        let p0 = self.point(corral.points[0]);
        if k + r == 1 {
            return Some((vec![1.0], vec![]));
        }
        let columns = k - 1 + r;
        let a = DMatrix::from_fn(self.m, columns, |i, c| {
            if c < k - 1 {
                self.point(corral.points[c + 1])[i] - p0[i]
            } else {
                let ray = corral.rays[c - (k - 1)];
                if ray == i {
                    self.ray[i]
                } else {
                    0.0
                }
            }
        });
        let b = DVector::from_fn(self.m, |i, _| -p0[i]);
        // Differences of points near `f64::MAX` overflow; nalgebra's SVD panics on NaN.
        if !a.iter().chain(b.iter()).all(|v| v.is_finite()) {
            return None;
        }
        let svd = a.svd(true, true);
        let top = svd.singular_values.iter().fold(0.0f64, |a, &s| a.max(s));
        let mu = svd.solve(&b, RANK_CUT * top).ok()?;
        let mut alpha = Vec::with_capacity(k);
        alpha.push(1.0 - mu.iter().take(k - 1).sum::<f64>());
        alpha.extend(mu.iter().take(k - 1));
        let beta = mu.iter().skip(k - 1).copied().collect();
        Some((alpha, beta))
    }

    /// The polished nearest point of the face `face` with rays `rays` (module docs): the
    /// component of `v(x_0)` orthogonal to the face's affine hull and the rays, the signs of
    /// inequality rows enforced by moving slack rows into the rays. `None` if it vanishes.
    fn polish(&self, face: &[usize], rays: &[usize]) -> Option<Vec<f64>> {
        let m = self.m;
        let &first = face.first()?;
        let p0 = self.point(first);
        let mut rays: Vec<usize> = rays.to_vec();
        for _ in 0..=m {
            let free: Vec<usize> = (0..m).filter(|i| !rays.contains(i)).collect();
            let f = free.len();
            if f == 0 {
                return None;
            }
            // An orthonormal basis of the face's directions (restricted to the free rows).
            let mut basis: Vec<DVector<f64>> = Vec::new();
            if face.len() > 1 {
                let d = DMatrix::from_fn(f, face.len() - 1, |a, c| {
                    self.point(face[c + 1])[free[a]] - p0[free[a]]
                });
                if !d.iter().all(|v| v.is_finite()) {
                    return None;
                }
                let svd = d.svd(true, false);
                let u = svd.u?;
                let top = svd.singular_values.iter().fold(0.0f64, |a, &s| a.max(s));
                for (c, &s) in svd.singular_values.iter().enumerate() {
                    if s > RANK_CUT * top && s > 0.0 {
                        basis.push(u.column(c).into_owned());
                    }
                }
            }
            // The complement: eigenvectors of I - U U^T with eigenvalue near 1.
            let mut projector = DMatrix::<f64>::identity(f, f);
            for u in &basis {
                projector -= u * u.transpose();
            }
            let eig = SymmetricEigen::new(projector);
            let v0 = DVector::from_fn(f, |a, _| p0[free[a]]);
            let mut y_free = DVector::<f64>::zeros(f);
            for (c, &l) in eig.eigenvalues.iter().enumerate() {
                if l > 0.5 {
                    let e = eig.eigenvectors.column(c);
                    y_free += e * e.dot(&v0);
                }
            }
            let mut y = vec![0.0; m];
            for (a, &i) in free.iter().enumerate() {
                y[i] = y_free[a];
            }
            // A `<=` row needs y_i >= 0, a `>=` row y_i <= 0; a wrong sign is a slack row.
            let wrong: Vec<usize> = free
                .iter()
                .copied()
                .filter(|&i| self.ray[i] * y[i] < 0.0)
                .collect();
            if wrong.is_empty() {
                return (norm(&y) > 0.0).then_some(y);
            }
            rays.extend(wrong);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Targets `1e-9` (relative) outside the edge `x + y <= 1` of the triangle
    /// `{(0,0), (1,0), (0,1)}`, with both rows offset by `1e6`: the certificate must
    /// separate in the user's units, which naive sums of `1e6`-sized terms cannot resolve.
    #[test]
    fn a_target_just_outside_an_offset_face_is_certified() {
        let rows = vec![
            Row::Dense(vec![1e6, 1e6 + 1.0, 1e6]),
            Row::Dense(vec![1e6, 1e6, 1e6 + 1.0]),
        ];
        let c = [1e6 + 0.5 + 2e-9, 1e6 + 0.5 + 2e-9];
        let allowed = [true; 3];
        let e = nearest_certificate(&rows, &allowed, &c, &[Sense::Eq, Sense::Eq], &[1.0, 1.0])
            .expect("a certificate");
        let Error::InfeasibleMoments { direction, .. } = e else {
            panic!("{e}")
        };
        // Independently: theta·(phi(x) - c) > 0 on all three states, the differences exact.
        for x in 0..3 {
            let exposed: f64 = (0..2)
                .map(|i| match &rows[i] {
                    Row::Dense(v) => direction[i] * (v[x] - c[i]),
                    Row::Sparse { .. } => unreachable!(),
                })
                .sum();
            assert!(exposed > 0.0, "{direction:?}");
        }
        // The direction is the edge's outward normal, (1, 1) up to scale and sign.
        assert!(
            (direction[0] / direction[1] - 1.0).abs() < 1e-9,
            "{direction:?}"
        );
        assert!(direction[0] < 0.0);
    }

    #[test]
    fn a_feasible_target_gets_no_certificate() {
        let rows = vec![Row::Dense(vec![0.0, 1.0, 2.0])];
        for (c, sense) in [(1.0, Sense::Eq), (2.0, Sense::Eq), (5.0, Sense::Le)] {
            assert!(nearest_certificate(&rows, &[true; 3], &[c], &[sense], &[2.0]).is_none());
        }
        // Just outside in the sense's direction: certified, with theta of the sense's sign.
        let e = nearest_certificate(&rows, &[true; 3], &[-1e-9], &[Sense::Le], &[2.0]);
        match e {
            Some(Error::InfeasibleMoments { direction, .. }) => assert!(direction[0] > 0.0),
            other => panic!("{other:?}"),
        }
    }
}
