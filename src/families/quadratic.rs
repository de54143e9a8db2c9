//! Quadratic (Gaussian) losses and their flow (docs/families-quadratic.md).
//!
//! `x in R^n`, `f(x) = 1/2 x'Ax - b'x` with `A` symmetric positive definite, and linear maps
//! `y_{k} = M_k y_{k-1}` of full row rank (`M_1` acts on `x = y_0`). One RG step at cumulative
//! temperature `S` keeps the family (proof: `proofs/quadratic.md`):
//!
//! ```text
//! K  = M A^{-1} M'                A' = K^{-1}        b' = A' M A^{-1} b
//! G  = A^{-1} M' K^{-1}           (the gain of the conditional mean)
//! c' = c - 1/2 (b'A^{-1}b - u'M'K^{-1}Mu) - S ((n-m)/2 log(2 pi S) - 1/2 log det A - 1/2 log det K),
//!      u = A^{-1} b
//! ```
//!
//! — the quadratic part does not depend on the temperature. `P*` is Gaussian with mean
//! `A^{-1} b` on every level (the minimiser of `f`, pushed forward) and covariances
//!
//! ```text
//! C_d = S_d A_d^{-1},     C_k = S_k (A_k^{-1} - G_k M A_k^{-1}) + G_k C_{k+1} G_k'
//! ```
//!
//! The constant `c` uses the fibre measure (Hausdorff measure on `{Mx = y}` divided by
//! `sqrt(det MM')`) for which `h(Y_k) = h(Y_k | Y_{k+1}) + h(Y_{k+1})` holds exactly, so the
//! free energy is `F = min E f - sum_k tau_k h(Y_k)` with the ordinary differential entropies
//! `h(Y_k)` on `R^{m_k}`.
//!
//! The *modular* case ([`modular`]): `n = b^L`, `M` the block average over siblings,
//! `A = sum_j lambda_j Pi_j` (Haar wavelet shells, `j = 0` finest, `j = L` the constants).
//! Then `lambda'_j = b lambda_{j+1}` and `Cov(P*) = sum_j (S_j / lambda_j) Pi_j`: `O(L)`.
//!
//! ```
//! # use hmaxent::families::quadratic::Quadratic;
//! # use hmaxent::Temperatures;
//! # use nalgebra::{DMatrix, DVector};
//! // Two independent unit Gaussians, observe their sum: A' = 1/2, b' = 0.
//! let q = Quadratic::new(
//!     DMatrix::identity(2, 2),
//!     DVector::zeros(2),
//!     vec![DMatrix::from_row_slice(1, 2, &[1.0, 1.0])],
//! )?;
//! let sol = q.solve(&Temperatures::new(&[1.0, 1.0])?)?;
//! assert!((sol.levels[1].a[(0, 0)] - 0.5).abs() < 1e-15);
//! // Var(x1 + x2) = S_1 / A' = 4; Var(x1 - x2) = 2 S_0 = 2.
//! let c = &sol.covariance;
//! assert!((c[(0, 0)] + 2.0 * c[(0, 1)] + c[(1, 1)] - 4.0).abs() < 1e-14);
//! assert!((c[(0, 0)] - 2.0 * c[(0, 1)] + c[(1, 1)] - 2.0).abs() < 1e-14);
//! # Ok::<(), hmaxent::Error>(())
//! ```

use std::f64::consts::PI;

use nalgebra::{Cholesky, DMatrix, DVector, Dyn};
use rand::Rng;

use crate::error::{Error, Result, Short};
use crate::rg::driver::level_entropies;
use crate::rg::{reconstruct, sweep, Reconstruct, Renormalise};
use crate::sampling::Sample;
use crate::temperatures::Temperatures;

/// A matrix whose smallest Cholesky pivot is below this times `n` times its largest pivot is
/// treated as singular (about `64 n` ulps).
const SINGULAR: f64 = 64.0 * f64::EPSILON;

/// A quadratic loss `f(x) = 1/2 x'Ax - b'x` with coarse-graining maps `M_1..M_d`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quadratic {
    a: DMatrix<f64>,
    b: DVector<f64>,
    maps: Vec<DMatrix<f64>>,
}

/// A renormalised loss `g_k(y) = 1/2 y'A_k y - b_k'y + c_k`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct QuadraticLoss {
    /// `A_k` (symmetric positive definite).
    pub a: DMatrix<f64>,
    /// `b_k`.
    pub b: DVector<f64>,
    /// `c_k` (0 at level 0).
    pub constant: f64,
}

/// The Gaussian block conditional `P*(y_k | y_{k+1})`:
/// mean `offset + gain y_{k+1}`, covariance `covariance` (rank `m_k - m_{k+1}`), and its
/// differential entropy in the fibre measure of the module docs. At the top, `gain` has no
/// columns and `offset`, `covariance` are the top marginal's.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GaussianConditional {
    /// `A^{-1} b - G M A^{-1} b`.
    pub offset: DVector<f64>,
    /// `G = A^{-1} M' (M A^{-1} M')^{-1}`.
    pub gain: DMatrix<f64>,
    /// `S (A^{-1} - G M A^{-1})`.
    pub covariance: DMatrix<f64>,
    /// A square root of `covariance`: `sqrt(S) (I - G M) L^{-T}` with `A = L L'`.
    pub noise: DMatrix<f64>,
    /// `h(Y_k | Y_{k+1}) = (m_k - m_{k+1})/2 log(2 pi e S) - 1/2 log det A - 1/2 log det K`.
    pub entropy: f64,
}

/// A Gaussian marginal of one level.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    /// Mean.
    pub mean: DVector<f64>,
    /// Covariance.
    pub covariance: DMatrix<f64>,
}

fn finite_matrix(field: &str, m: &DMatrix<f64>) -> Result<()> {
    match m.iter().position(|x| !x.is_finite()) {
        // nalgebra is column-major: entry i is (i % rows, i / rows).
        Some(i) => Err(Error::InvalidInput(format!(
            "{field}[{}][{}] = {} must be finite",
            i % m.nrows(),
            i / m.nrows(),
            Short(m[i])
        ))),
        None => Ok(()),
    }
}

/// Cholesky factor of a symmetric matrix, refusing indefinite and (numerically) singular ones;
/// `what` names the matrix in the error.
///
/// A matrix that is definite but whose factorisation leaves `f64` (entries near `1e308` or
/// `1e-308`) is [`Error::Numerical`], not bad input: the verdict is taken on the matrix
/// scaled by a power of four to entries of order 1 (which changes no pivot ratio).
fn cholesky(m: DMatrix<f64>, what: &dyn Fn() -> String) -> Result<Cholesky<f64, Dyn>> {
    match checked_cholesky(m.clone(), what) {
        Ok(c) => Ok(c),
        Err(e) => {
            let top = m.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            if !top.is_finite() {
                // Inputs are finite (checked first): a product of them overflowed.
                return Err(Error::Numerical(format!(
                    "the check of the matrix in \"{}\" overflows: its entries leave f64 \
                     (finite inputs near the ends of the f64 range)",
                    what()
                )));
            }
            if top == 0.0 {
                return Err(e);
            }
            // 4^-k = (2^-k)^2 with 4^k near `top`, applied as two exact halvings of the
            // exponent (2^-k is normal for every finite non-zero `top`).
            let k = (top.log2() / 2.0).round() as i32;
            let half = 2f64.powi(-k);
            if checked_cholesky(m * half * half, what).is_err() {
                return Err(e);
            }
            Err(Error::Numerical(format!(
                "the check of the matrix in \"{}\" fails in f64 although the matrix is \
                 positive definite: its entries (largest {top:e}) leave f64 in the Cholesky \
                 factorisation",
                what()
            )))
        }
    }
}

fn checked_cholesky(m: DMatrix<f64>, what: &dyn Fn() -> String) -> Result<Cholesky<f64, Dyn>> {
    let n = m.nrows();
    let c = Cholesky::new(m)
        .ok_or_else(|| Error::InvalidInput(format!("{} is not positive definite", what())))?;
    let l = c.l_dirty();
    let (lo, hi) = (0..n).fold((f64::INFINITY, 0.0f64), |(lo, hi), i| {
        let p = l[(i, i)] * l[(i, i)];
        (lo.min(p), hi.max(p))
    });
    if lo.is_nan() || !hi.is_finite() || lo <= SINGULAR * n as f64 * hi {
        return Err(Error::InvalidInput(format!(
            "{} is singular to working precision (Cholesky pivots {lo:e} .. {hi:e})",
            what()
        )));
    }
    Ok(c)
}

fn log_det(c: &Cholesky<f64, Dyn>) -> f64 {
    let l = c.l_dirty();
    2.0 * (0..l.nrows()).map(|i| l[(i, i)].ln()).sum::<f64>()
}

/// `sum_k m_k^3` over `m_0 = n` and the row counts of the maps (saturated).
fn work(n: usize, maps: &[DMatrix<f64>]) -> u64 {
    std::iter::once(n)
        .chain(maps.iter().map(DMatrix::nrows))
        .map(|m| (m as u64).saturating_pow(3))
        .fold(0u64, u64::saturating_add)
}

/// `(M + M') / 2`, halved first so that entries near `f64::MAX` do not overflow.
fn symmetrise(m: &mut DMatrix<f64>) {
    *m *= 0.5;
    let t = m.transpose();
    *m += t;
}

/// The largest dimension `n` of a [`Quadratic`]: its flow factors `n x n` matrices, `n^3`
/// work, so `n <= 1024` (`2^30`, [`MAX_WORK`]).
pub const MAX_DIMENSION: usize = 1024;

/// The most work a [`Quadratic`] may take, `sum_k m_k^3` over the dimensions `m_0 = n, m_1,
/// .., m_d` of its levels (each level factors and inverts `m_k x m_k` matrices): `2^30`,
/// about 1.6 s (measured 1.5-3 ns per unit).
pub const MAX_WORK: u64 = 1 << 30;

impl Quadratic {
    /// Validates `A` (`n x n`, finite, symmetric to `1e-10` of its largest entry, then
    /// symmetrised), `b` (`n`, finite) and the maps (`M_k` is `m_k x m_{k-1}`, finite,
    /// `1 <= m_k <= m_{k-1}`, full row rank). Positive definiteness of `A` is checked too.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the offending matrix for each of these, and for
    /// `n > MAX_DIMENSION` or a work beyond [`MAX_WORK`]; [`Error::LengthMismatch`] for `b`.
    pub fn new(mut a: DMatrix<f64>, b: DVector<f64>, maps: Vec<DMatrix<f64>>) -> Result<Self> {
        let n = a.nrows();
        if n == 0 || a.ncols() != n {
            return Err(Error::InvalidInput(format!(
                "A must be a non-empty square matrix, got {} x {}",
                a.nrows(),
                a.ncols()
            )));
        }
        if n > MAX_DIMENSION {
            return Err(Error::InvalidInput(format!(
                "A is {n} x {n}: the quadratic family accepts n <= {MAX_DIMENSION} \
                 (MAX_DIMENSION: its flow takes n^3 work, within 2^30 steps)"
            )));
        }
        let work = work(n, &maps);
        if work > MAX_WORK {
            return Err(Error::InvalidInput(format!(
                "A is {n} x {n} with {} maps: the flow would take sum_k m_k^3 = {work} steps \
                 over the level dimensions m_k; the limit is {MAX_WORK} (MAX_WORK, about 2 s)",
                maps.len()
            )));
        }
        finite_matrix("A", &a)?;
        let scale = a.amax();
        for i in 0..n {
            for j in 0..i {
                if (a[(i, j)] - a[(j, i)]).abs() > 1e-10 * scale {
                    return Err(Error::InvalidInput(format!(
                        "A is not symmetric: A[{i}][{j}] = {} but A[{j}][{i}] = {}",
                        Short(a[(i, j)]),
                        Short(a[(j, i)])
                    )));
                }
            }
        }
        symmetrise(&mut a);
        if b.len() != n {
            return Err(Error::length("b", b.len(), n));
        }
        if let Some(i) = b.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "b[{i}] = {} must be finite",
                Short(b[i])
            )));
        }
        cholesky(a.clone(), &|| "A".to_string())?;
        let mut dim = n;
        for (k, m) in maps.iter().enumerate() {
            let field = format!("maps[{k}]");
            if m.ncols() != dim || m.nrows() == 0 || m.nrows() > dim {
                return Err(Error::InvalidInput(format!(
                    "{field} (M_{}) is {} x {}: it must have {dim} columns and 1..={dim} rows",
                    k + 1,
                    m.nrows(),
                    m.ncols()
                )));
            }
            finite_matrix(&field, m)?;
            let mut gram = m * m.transpose();
            symmetrise(&mut gram);
            cholesky(gram, &|| {
                format!("{field} is rank-deficient: M_{} M_{}'", k + 1, k + 1)
            })?;
            dim = m.nrows();
        }
        Ok(Self { a, b, maps })
    }

    /// The work of one solve: `sum_k m_k^3` over the level dimensions (see [`MAX_WORK`]).
    pub fn work(&self) -> u64 {
        work(self.a.nrows(), &self.maps)
    }

    /// `n`.
    pub fn dimension(&self) -> usize {
        self.a.nrows()
    }

    /// `d`, the number of maps.
    pub fn depth(&self) -> usize {
        self.maps.len()
    }

    /// `A`.
    pub fn a(&self) -> &DMatrix<f64> {
        &self.a
    }

    /// `b`.
    pub fn b(&self) -> &DVector<f64> {
        &self.b
    }

    /// `M_1..M_d`.
    pub fn maps(&self) -> &[DMatrix<f64>] {
        &self.maps
    }

    /// `f(x) = 1/2 x'Ax - b'x`.
    pub fn loss(&self, x: &DVector<f64>) -> f64 {
        0.5 * x.dot(&(&self.a * x)) - self.b.dot(x)
    }

    /// The objective `E f - sum_k tau_k h(Y_k)` of the Gaussian `N(mean, covariance)` in closed
    /// form: `E f = 1/2 tr(A C) + f(mean)`, `h(Y_k) = 1/2 log det(2 pi e P_k C P_k')` with
    /// `P_k = M_k ... M_1`. Its minimum over all distributions is [`GaussianSolution::free_energy`].
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for wrong sizes; [`Error::InvalidInput`] if a level's
    /// covariance is not positive definite (infinite objective).
    pub fn objective(
        &self,
        mean: &DVector<f64>,
        covariance: &DMatrix<f64>,
        temperatures: &Temperatures,
    ) -> Result<f64> {
        let n = self.dimension();
        if mean.len() != n || covariance.nrows() != n || covariance.ncols() != n {
            return Err(Error::length("mean", mean.len(), n));
        }
        temperatures.expect_levels(self.depth() + 1)?;
        let ef = 0.5 * (&self.a * covariance).trace() + self.loss(mean);
        let mut c = covariance.clone();
        let mut value = ef;
        for k in 0..=self.depth() {
            if k > 0 {
                let m = &self.maps[k - 1];
                c = m * &c * m.transpose();
            }
            let mut cs = c.clone();
            symmetrise(&mut cs);
            let dim = cs.nrows() as f64;
            let ch = cholesky(cs, &|| format!("the covariance of level {k}"))?;
            let h = 0.5 * (dim * (2.0 * PI * std::f64::consts::E).ln() + log_det(&ch));
            value -= temperatures.tau(k) * h;
        }
        Ok(value)
    }

    /// The flow and `P*`: `A_k, b_k, c_k` for `k = 0..d`, the free energy, mean and covariance
    /// of `x`, and every level's differential entropy, through [`sweep`] and [`reconstruct`].
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `temperatures` does not have `d + 1` levels;
    /// [`Error::InvalidInput`] if a renormalised matrix turns out singular to working
    /// precision; [`Error::Overflow`] for results beyond `f64`.
    pub fn solve(&self, temperatures: &Temperatures) -> Result<GaussianSolution> {
        temperatures.expect_levels(self.depth() + 1)?;
        let step = GaussianStep { maps: &self.maps };
        let g0 = QuadraticLoss {
            a: self.a.clone(),
            b: self.b.clone(),
            constant: 0.0,
        };
        let flow = sweep(&step, &g0, temperatures.cumulative_slice())?;
        let mut levels = Vec::with_capacity(self.depth() + 1);
        levels.push(g0);
        levels.extend(flow.losses);
        let conditionals = flow.conditionals.clone();
        let rec = reconstruct(&step, flow.conditionals);
        let conditional_entropies = rec.conditional_entropies;
        let entropies = level_entropies(&conditional_entropies);
        let marginal = rec.marginals.into_iter().next().expect("level 0");
        let expected_loss = flow.free_energy
            + temperatures
                .as_slice()
                .iter()
                .zip(&entropies)
                .map(|(t, h)| t * h)
                .sum::<f64>();
        if !flow.free_energy.is_finite()
            || !expected_loss.is_finite()
            || marginal.covariance.iter().any(|x| !x.is_finite())
        {
            return Err(Error::overflow(
                if flow.free_energy.is_finite() && expected_loss.is_finite() {
                    "the covariance of P*_0"
                } else {
                    "the free energy or expected loss of the Gaussian"
                },
                None,
                None,
            ));
        }
        Ok(GaussianSolution {
            free_energy: flow.free_energy,
            mean: marginal.mean,
            covariance: marginal.covariance,
            levels,
            entropies,
            conditional_entropies,
            expected_loss,
            conditionals,
        })
    }
}

/// A solved quadratic family.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GaussianSolution {
    /// `F = min_P E f - sum_k tau_k h(Y_k)` (differential entropies).
    pub free_energy: f64,
    /// `E_P*[x] = A^{-1} b`.
    pub mean: DVector<f64>,
    /// `Cov_P*(x)`.
    pub covariance: DMatrix<f64>,
    /// `g_0..g_d`: `(A_k, b_k, c_k)`, `A_0 = A`.
    pub levels: Vec<QuadraticLoss>,
    /// `h(Y_0), ..., h(Y_d)` (nats, differential).
    pub entropies: Vec<f64>,
    /// `h(Y_k | Y_{k+1})` for `k < d`, then `h(Y_d)`.
    pub conditional_entropies: Vec<f64>,
    /// `E_P*[f] = F + sum_k tau_k h(Y_k)`.
    pub expected_loss: f64,
    /// The block conditionals of levels `0..d-1` and the top (for sampling).
    pub conditionals: Vec<GaussianConditional>,
}

/// A standard normal draw (Box–Muller; one of the pair is discarded).
fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
}

/// One exact draw of `x ~ P*` by inverse RG (docs/concepts.md, "10. Sampling"): `y_d` from
/// the top Gaussian, then `y_k = offset_k + G_k y_{k+1} + noise_k z`, `z` standard normal.
impl Sample for GaussianSolution {
    type Draw = DVector<f64>;

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> DVector<f64> {
        let mut y = DVector::zeros(0);
        for c in self.conditionals.iter().rev() {
            let z = DVector::from_fn(c.noise.ncols(), |_, _| standard_normal(rng));
            let mut next = &c.offset + &c.noise * z;
            if c.gain.ncols() > 0 {
                next += &c.gain * &y;
            }
            y = next;
        }
        y
    }

    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut DVector<f64>) {
        *out = self.sample(rng);
    }
}

/// One step of the quadratic flow (implements [`Renormalise`] and [`Reconstruct`]); the map
/// of step `k` is `maps[k]` (`M_{k+1}`).
#[derive(Debug, Clone, Copy)]
pub struct GaussianStep<'a> {
    /// `M_1..M_d`.
    pub maps: &'a [DMatrix<f64>],
}

impl Renormalise for GaussianStep<'_> {
    type Scalar = f64;
    type Loss = QuadraticLoss;
    type Conditional = GaussianConditional;

    fn depth(&self) -> usize {
        self.maps.len()
    }

    /// `A' = K^{-1}`, `b' = K^{-1} M A^{-1} b`, `c'` as in the module docs; the conditional
    /// `N(A^{-1}b + G (y - M A^{-1} b), S (A^{-1} - G M A^{-1}))`.
    fn coarse_grain(
        &self,
        level: usize,
        g: &QuadraticLoss,
        s: f64,
    ) -> Result<(QuadraticLoss, GaussianConditional)> {
        let m = &self.maps[level];
        let n = g.a.nrows();
        let rows = m.nrows();
        let ca = cholesky(g.a.clone(), &|| format!("A_{level}"))?;
        let u = ca.solve(&g.b); // A^{-1} b
        let x = ca.solve(&m.transpose()); // A^{-1} M'
        let mut k = m * &x; // M A^{-1} M'
        symmetrise(&mut k);
        let ck = cholesky(k, &|| {
            format!(
                "maps[{level}] is rank-deficient: M_{} A_{level}^-1 M_{}'",
                level + 1,
                level + 1
            )
        })?;
        let mu = m * &u; // M A^{-1} b
        let b1 = ck.solve(&mu);
        let mut a1 = ck.inverse();
        symmetrise(&mut a1);
        let gain = ck.solve(&x.transpose()).transpose(); // A^{-1} M' K^{-1}
        let (lda, ldk) = (log_det(&ca), log_det(&ck));
        let dim = (n - rows) as f64;
        let c0 = -0.5 * (g.b.dot(&u) - mu.dot(&b1));
        let constant = g.constant + c0 - s * (0.5 * dim * (2.0 * PI * s).ln() - 0.5 * (lda + ldk));
        let offset = &u - &gain * &mu;
        let ainv = ca.inverse();
        let proj = DMatrix::identity(n, n) - &gain * m; // I - G M
        let mut covariance = &proj * &ainv * s;
        symmetrise(&mut covariance);
        let lt_inv = ca
            .l_dirty()
            .lower_triangle()
            .transpose()
            .solve_upper_triangular(&DMatrix::identity(n, n))
            .ok_or_else(|| Error::Numerical(format!("A_{level}: triangular solve failed")))?;
        let noise = proj * lt_inv * s.sqrt();
        let entropy = 0.5 * dim * (2.0 * PI * std::f64::consts::E * s).ln() - 0.5 * (lda + ldk);
        Ok((
            QuadraticLoss {
                a: a1,
                b: b1,
                constant,
            },
            GaussianConditional {
                offset,
                gain,
                covariance,
                noise,
                entropy,
            },
        ))
    }

    /// `F = c_d - 1/2 b_d'A_d^{-1}b_d - S_d (m_d/2 log(2 pi S_d) - 1/2 log det A_d)`; the top
    /// marginal `N(A_d^{-1} b_d, S_d A_d^{-1})`.
    fn top(&self, g: &QuadraticLoss, s: f64) -> Result<(f64, GaussianConditional)> {
        let d = self.maps.len();
        let n = g.a.nrows();
        let ca = cholesky(g.a.clone(), &|| format!("A_{d}"))?;
        let u = ca.solve(&g.b);
        let lda = log_det(&ca);
        let dim = n as f64;
        let f = g.constant - 0.5 * g.b.dot(&u) - s * (0.5 * dim * (2.0 * PI * s).ln() - 0.5 * lda);
        let mut covariance = ca.inverse() * s;
        symmetrise(&mut covariance);
        let noise = ca
            .l_dirty()
            .lower_triangle()
            .transpose()
            .solve_upper_triangular(&DMatrix::identity(n, n))
            .ok_or_else(|| Error::Numerical(format!("A_{d}: triangular solve failed")))?
            * s.sqrt();
        let entropy = 0.5 * dim * (2.0 * PI * std::f64::consts::E * s).ln() - 0.5 * lda;
        Ok((
            f,
            GaussianConditional {
                offset: u,
                gain: DMatrix::zeros(n, 0),
                covariance,
                noise,
                entropy,
            },
        ))
    }
}

impl Reconstruct for GaussianStep<'_> {
    type Marginal = Gaussian;

    fn top_marginal(&self, top: GaussianConditional) -> (Gaussian, f64) {
        (
            Gaussian {
                mean: top.offset,
                covariance: top.covariance,
            },
            top.entropy,
        )
    }

    /// `mean_k = offset + G mean_{k+1}`, `C_k = S_k (A^{-1} - G M A^{-1}) + G C_{k+1} G'`.
    fn refine(&self, _level: usize, c: GaussianConditional, coarse: &Gaussian) -> (Gaussian, f64) {
        let mean = &c.offset + &c.gain * &coarse.mean;
        let mut covariance = &c.covariance + &c.gain * &coarse.covariance * c.gain.transpose();
        symmetrise(&mut covariance);
        (Gaussian { mean, covariance }, c.entropy)
    }
}

/// The modular (hierarchical) Gaussian of docs/families-quadratic.md in `O(L)`: `n = b^L`, maps the sibling
/// averages, `A = sum_j lambda_j Pi_j`, `b = 0` (so `min f = 0`).
///
/// With `d_j = (b - 1) b^(L-j-1)` the dimension of Haar shell `j < L` (`d_L = 1`) and
/// `n_k = b^(L-k)` the number of level-`k` coordinates, the level-`k` covariance is
/// `sum_{j >= k} S_j / (lambda_j b^k)` times the projector on shell `j` (in level-`k`
/// coordinates), so
///
/// ```text
/// h(Y_k) = 1/2 (n_k log(2 pi e) + sum_{j >= k} d_j log(S_j / (lambda_j b^k))),
/// E f    = 1/2 sum_j S_j d_j,          F = E f - sum_k tau_k h(Y_k)
/// ```
///
/// (differential entropies on `R^{n_k}`, as for [`Quadratic`]; test
/// `modular_entropies_match_the_general_flow`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ModularSolution {
    /// `S_j / lambda_j`, `j = 0..L`: the variance of `P*` per unit of Haar shell `j`
    /// (`Cov(P*) = sum_j (S_j / lambda_j) Pi_j`).
    pub scale_variances: Vec<f64>,
    /// `F` (may be infinite when `b^L` is beyond `f64`; [`Modular::solve`] refuses that).
    pub free_energy: f64,
    /// `h(Y_0), ..., h(Y_L)` (differential, nats).
    pub entropies: Vec<f64>,
    /// `E_P*[f] = 1/2 sum_j S_j d_j`.
    pub expected_loss: f64,
}

/// The modular quadratic family as a value: branching `b`, depth `L` (RG steps; `L + 1`
/// levels), eigenvalues `lambda_0..lambda_L`.
#[derive(Debug, Clone, PartialEq)]
pub struct Modular {
    branching: usize,
    depth: usize,
    eigenvalues: Vec<f64>,
}

impl Modular {
    /// Validates the inputs as [`modular`] does.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `b = 0`; [`Error::LengthMismatch`] unless there are
    /// `L + 1` eigenvalues; [`Error::InvalidValue`] for an eigenvalue not finite and `> 0`.
    pub fn new(branching: usize, depth: usize, eigenvalues: &[f64]) -> Result<Self> {
        check_modular(branching, depth, eigenvalues)?;
        Ok(Self {
            branching,
            depth,
            eigenvalues: eigenvalues.to_vec(),
        })
    }

    /// `b`.
    pub fn branching(&self) -> usize {
        self.branching
    }

    /// `L`, the number of RG steps.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// `lambda_0..lambda_L`.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// [`modular`] at `temperatures`, refusing results beyond `f64`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] for the wrong number of temperatures; [`Error::Overflow`]
    /// when a variance, entropy or the free energy does not fit in `f64`.
    pub fn solve(&self, temperatures: &Temperatures) -> Result<ModularSolution> {
        let s = modular(self.branching, self.depth, &self.eigenvalues, temperatures)?;
        if !(s.free_energy.is_finite()
            && s.expected_loss.is_finite()
            && s.entropies.iter().all(|h| h.is_finite()))
        {
            return Err(Error::overflow(
                format!(
                    "the entropies or expected loss of the modular Gaussian with b = {} and \
                     L = {} (b^L coordinates)",
                    self.branching, self.depth
                ),
                None,
                None,
            ));
        }
        Ok(s)
    }
}

fn check_modular(branching: usize, depth: usize, eigenvalues: &[f64]) -> Result<()> {
    if branching == 0 {
        return Err(Error::InvalidSetting {
            field: "branching",
            value: 0.0,
            reason: "must be at least 1",
        });
    }
    if eigenvalues.len() != depth + 1 {
        return Err(Error::length("eigenvalues", eigenvalues.len(), depth + 1));
    }
    if let Some(j) = eigenvalues
        .iter()
        .position(|l| !(l.is_finite() && *l > 0.0))
    {
        return Err(Error::InvalidValue {
            field: "eigenvalues".to_string(),
            index: j,
            value: eigenvalues[j],
            reason: "eigenvalues must be finite and > 0 (A positive definite)",
        });
    }
    Ok(())
}

/// Validates the modular inputs and returns the scale variances `S_j / lambda_j` with the
/// entropies, expected loss and free energy of [`ModularSolution`] (those may be infinite
/// when `b^L` is beyond `f64`).
///
/// # Errors
/// [`Error::InvalidSetting`] for `b = 0`; [`Error::LengthMismatch`] unless there are `L + 1`
/// eigenvalues and temperatures; [`Error::InvalidValue`] for an eigenvalue that is not finite
/// and `> 0` (`A` indefinite or singular); [`Error::Overflow`] for a variance beyond `f64`.
pub fn modular(
    branching: usize,
    depth: usize,
    eigenvalues: &[f64],
    temperatures: &Temperatures,
) -> Result<ModularSolution> {
    check_modular(branching, depth, eigenvalues)?;
    temperatures.expect_levels(depth + 1)?;
    let s = temperatures.cumulative_slice();
    let scale_variances: Vec<f64> = eigenvalues.iter().zip(s).map(|(l, s)| s / l).collect();
    if let Some(j) = scale_variances.iter().position(|v| !v.is_finite()) {
        return Err(Error::overflow(
            format!("the scale variance S_{j} / lambda_{j}"),
            Some(j),
            None,
        ));
    }
    let b = branching as f64;
    let l = depth;
    // d_j = (b - 1) b^(L-j-1) for j < L, d_L = 1.
    let dim = |j: usize| -> f64 {
        if j == l {
            1.0
        } else {
            (b - 1.0) * b.powi((l - j - 1) as i32)
        }
    };
    let log_2pie = (2.0 * PI * std::f64::consts::E).ln();
    // O(L): with the suffix sums T_k = sum_{j >= k} d_j log(S_j / lambda_j) and
    // sum_{j >= k} d_j = n_k, h(Y_k) = 1/2 (n_k log(2 pi e) + T_k - k n_k log b).
    let mut suffix = vec![0.0; l + 2];
    for j in (0..=l).rev() {
        let d = dim(j);
        suffix[j] = suffix[j + 1]
            + if d == 0.0 {
                0.0
            } else {
                d * scale_variances[j].ln()
            };
    }
    let entropies: Vec<f64> = (0..=l)
        .map(|k| {
            let n_k = b.powi((l - k) as i32);
            let shift = if k == 0 { 0.0 } else { k as f64 * n_k * b.ln() };
            0.5 * (n_k * log_2pie + suffix[k] - shift)
        })
        .collect();
    let expected_loss = 0.5 * (0..=l).map(|j| s[j] * dim(j)).sum::<f64>();
    let free_energy = expected_loss
        - temperatures
            .as_slice()
            .iter()
            .zip(&entropies)
            .map(|(t, h)| t * h)
            .sum::<f64>();
    Ok(ModularSolution {
        scale_variances,
        free_energy,
        entropies,
        expected_loss,
    })
}

/// The eigenvalues of level `k` of the modular flow, `lambda^(k)_j = b^k lambda_{j+k}`,
/// `j = 0..L-k` (each level is `b` times the previous one shifted by a shell). Entries beyond
/// `f64` come out infinite.
pub fn eigenvalue_flow(branching: usize, eigenvalues: &[f64], level: usize) -> Vec<f64> {
    let mut p = 1.0f64;
    for _ in 0..level {
        p *= branching as f64;
    }
    eigenvalues[level..].iter().map(|l| l * p).collect()
}

/// The explicit matrices of the modular case (for tests and small examples): the `n x n`
/// projector `E_j` onto vectors constant on blocks of `b^j` consecutive leaves (`n = b^L`).
pub fn block_average_projector(branching: usize, depth: usize, j: usize) -> DMatrix<f64> {
    let n = branching.pow(depth as u32);
    let w = branching.pow(j as u32);
    DMatrix::from_fn(
        n,
        n,
        |r, c| {
            if r / w == c / w {
                1.0 / w as f64
            } else {
                0.0
            }
        },
    )
}

/// `A = sum_j lambda_j Pi_j` with `Pi_j = E_j - E_{j+1}` (`j < L`), `Pi_L = E_L`.
pub fn modular_matrix(branching: usize, depth: usize, eigenvalues: &[f64]) -> DMatrix<f64> {
    let n = branching.pow(depth as u32);
    let mut a = DMatrix::zeros(n, n);
    for (j, &l) in eigenvalues.iter().enumerate() {
        let mut pi = block_average_projector(branching, depth, j);
        if j < depth {
            pi -= block_average_projector(branching, depth, j + 1);
        }
        a += pi * l;
    }
    a
}

/// The sibling-average map from `b^m` to `b^(m-1)` coordinates (entries `1/b`).
pub fn sibling_average(branching: usize, m: usize) -> DMatrix<f64> {
    let n = branching.pow(m as u32);
    DMatrix::from_fn(n / branching, n, |r, c| {
        if c / branching == r {
            1.0 / branching as f64
        } else {
            0.0
        }
    })
}
