//! One decimation step of a chain: the renormalised loss and the step map.

use std::cell::Cell;
use std::sync::Arc;

use super::definition::{Boundary, Chain};
use super::scalar::BondScalar;
use crate::error::{Error, Result};
use crate::numerics::{min, soft_min, Real};
use crate::rg::Renormalise;

/// A renormalised chain loss `g_k(y) = C_k + sum_j phi_{k,j}(y_j, y_{j+1})`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ChainLoss<T> {
    /// The level's bond matrices, each normalised to `min = 0` (row-major `q x q`,
    /// concatenated; one matrix for a homogeneous chain), shared with the step's
    /// [`super::ChainConditional`] (no copy).
    pub bonds: Arc<[T]>,
    /// `C_k`: the constants split off at levels `< k` (and from the input bonds), each
    /// multiplied by the number of bonds it stands for.
    pub constant: T,
}

thread_local! {
    /// The kernels' scratch, kept between steps: a homogeneous flow's step is one small
    /// product, where a fresh allocation would be a fair part of its cost.
    static SCRATCH: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

/// One decimation step of a chain (implements [`Renormalise`], and [`crate::rg::Reconstruct`]
/// in `f64`); `T` is the scalar (`f64` or
/// a dual number).
///
/// A derivative pass may read its finest level from `f64` bonds instead of its `g_0` (which
/// then holds only the constant): the scalars are made one bond pair at a time, so no copy
/// of the finest level is held in dual numbers.
#[derive(Debug, Clone, Copy)]
pub struct Decimation<'a, T> {
    pub(super) q: usize,
    pub(super) levels: usize,
    pub(super) boundary: Boundary,
    pub(super) homogeneous: bool,
    /// `f64` bonds of the finest level (then `g_0.bonds` is empty).
    pub(super) input: Option<&'a [f64]>,
    /// Whether the input bonds carry the `t` tangent of `f -> (1 + t) f` (direction 0).
    pub(super) seed_t: bool,
    pub(super) _scalar: std::marker::PhantomData<T>,
}

impl<T> Decimation<'_, T> {
    /// The step map of `chain`.
    pub fn new(chain: &Chain) -> Self {
        Self {
            q: chain.q,
            levels: chain.levels,
            boundary: chain.boundary,
            homogeneous: chain.homogeneous,
            input: None,
            seed_t: false,
            _scalar: std::marker::PhantomData,
        }
    }
}

impl<T: BondScalar> Decimation<'_, T> {
    /// Scalars of the level-0 input entries `x` (with their `t` tangent when seeded).
    fn lift(&self, x: &[f64], out: &mut Vec<T>) {
        out.clear();
        out.extend(
            x.iter()
                .map(|&v| if self.seed_t { T::seed_t(v) } else { T::of(v) }),
        );
    }
}

impl<T: BondScalar> Renormalise for Decimation<'_, T> {
    type Scalar = T;
    type Loss = ChainLoss<T>;
    type Conditional = T::Conditional;

    fn depth(&self) -> usize {
        self.levels
    }

    /// `phi'_j = soft_min_plus(phi_{2j}, phi_{2j+1})` at `S_k`, normalised; the constants
    /// `c_j` go into `C_{k+1} = C_k + sum_j c_j` (homogeneous: `C_k + 2^(L-k-1) c`).
    fn coarse_grain(
        &self,
        level: usize,
        g: &ChainLoss<T>,
        s: T,
    ) -> Result<(ChainLoss<T>, T::Conditional)> {
        let q = self.q;
        let qq = q * q;
        let mut ws = SCRATCH.take();
        let input = self.input.filter(|_| level == 0);
        let n_in = input.map_or(g.bonds.len(), <[f64]>::len);
        let n_out = if self.homogeneous { 1 } else { n_in / qq / 2 };
        let mut shared = zeros::<T>(n_out * qq);
        let bonds = Arc::get_mut(&mut shared).expect("a new table has one owner");
        let mut sum = T::zero();
        if input.is_none() && !self.homogeneous && T::soft_min_plus_level(&g.bonds, q, s, bonds) {
            for (j, out) in bonds.chunks_exact_mut(qq).enumerate() {
                let c = subtract_min(out).ok_or_else(|| forbidden_bond(level + 1, j))?;
                sum = sum + c;
            }
            return Ok((
                ChainLoss {
                    bonds: shared,
                    constant: g.constant + sum,
                },
                T::conditional(&g.bonds, s),
            ));
        }
        let (mut lbuf, mut rbuf) = (Vec::new(), Vec::new());
        for (j, out) in bonds.chunks_exact_mut(qq).enumerate() {
            let (lo, ro) = if self.homogeneous {
                (0, 0)
            } else {
                (2 * j * qq, (2 * j + 1) * qq)
            };
            if let Some(x) = input {
                self.lift(&x[lo..lo + qq], &mut lbuf);
                self.lift(&x[ro..ro + qq], &mut rbuf);
                T::soft_min_plus(&lbuf, &rbuf, q, s, out, &mut ws);
            } else {
                let (left, right) = (&g.bonds[lo..lo + qq], &g.bonds[ro..ro + qq]);
                T::soft_min_plus(left, right, q, s, out, &mut ws);
            }
            let c = subtract_min(out).ok_or_else(|| forbidden_bond(level + 1, j))?;
            sum = sum + c;
        }
        SCRATCH.set(ws);
        if self.homogeneous {
            sum = times_pow2(sum, self.levels - level - 1);
        }
        Ok((
            ChainLoss {
                bonds: shared,
                constant: g.constant + sum,
            },
            T::conditional(&g.bonds, s),
        ))
    }

    /// Open: `F = C_L - S_L log sum_{a,c} exp(-phi_L(a, c) / S_L)` (the two end sites);
    /// ring: `F = C_L - S_L log sum_a exp(-phi_L(a, a) / S_L)` (the one site, its bond to
    /// itself).
    fn top(&self, g: &ChainLoss<T>, s: T) -> Result<(T, T::Conditional)> {
        let q = self.q;
        let bonds = match self.input.filter(|_| self.levels == 0) {
            Some(x) => {
                let mut lifted = Vec::new();
                self.lift(&x[..q * q], &mut lifted);
                Arc::from(lifted)
            }
            None => Arc::clone(&g.bonds),
        };
        let top = match self.boundary {
            Boundary::Open => soft_min(&bonds[..q * q], s),
            Boundary::Ring => {
                let diag: Vec<T> = (0..q).map(|a| bonds[a * q + a]).collect();
                soft_min(&diag, s)
            }
        };
        if top == T::infinity() {
            return Err(Error::AllForbidden(
                "every configuration of the chain has loss +inf".to_string(),
            ));
        }
        Ok((g.constant + top, T::conditional(&bonds, s)))
    }
}

/// The level-0 loss: bonds normalised to `min = 0`, their minima (times the number of bonds
/// each stands for) in the constant (one pass: `+inf - m = +inf` for the finite minimum `m`);
/// a finite entry `x` with `x - m` beyond `f64` is an [`Error::Overflow`], not a forbidden
/// pair.
pub(super) fn normalised(chain: &Chain) -> Result<ChainLoss<f64>> {
    let qq = chain.q * chain.q;
    let mut shared = zeros::<f64>(chain.bonds.len());
    let bonds = Arc::get_mut(&mut shared).expect("a new table has one owner");
    let mut constant = 0.0;
    for (i, (b, out)) in chain
        .bonds
        .chunks_exact(qq)
        .zip(bonds.chunks_exact_mut(qq))
        .enumerate()
    {
        let m = min(b);
        if m == f64::INFINITY {
            return Err(forbidden_bond(0, i));
        }
        for (j, (o, &x)) in out.iter_mut().zip(b).enumerate() {
            *o = x - m;
            // A finite entry whose distance to the minimum overflows (1e308 beside -1e308)
            // is not forbidden: the answer does not fit.
            if x.is_finite() && !o.is_finite() {
                return Err(Error::overflow(
                    format!(
                        "bond {i} entry ({}, {}) less the bond's minimum",
                        j / chain.q,
                        j % chain.q
                    ),
                    Some(0),
                    None,
                ));
            }
        }
        constant += m;
    }
    if chain.homogeneous {
        constant = times_pow2(constant, chain.levels);
    }
    Ok(ChainLoss {
        bonds: shared,
        constant,
    })
}

/// A new table of `n` zeros, shared once filled (one allocation, header and entries).
fn zeros<T: Real>(n: usize) -> Arc<[T]> {
    std::iter::repeat_n(T::zero(), n).collect()
}

pub(super) fn forbidden_bond(level: usize, i: usize) -> Error {
    Error::AllForbidden(format!(
        "bond {i} of level {level} has loss +inf for every pair of states"
    ))
}

/// Subtracts the minimum from a bond (finite entries); `None` if every entry is `+inf`.
pub(super) fn subtract_min<T: Real>(b: &mut [T]) -> Option<T> {
    let m = min(b);
    if m == T::infinity() {
        return None;
    }
    for x in b.iter_mut() {
        *x = if *x == T::infinity() {
            T::infinity()
        } else {
            *x - m
        };
    }
    Some(m)
}

/// `x 2^n`, exact while it fits, `±inf` beyond the `f64` range, and `0` for `x = 0` however
/// large `n` is (a bond minimum of `0` repeated `2^2000` times adds nothing; `0 * 2^2000`
/// would be `0 * inf = NaN`). Multiplies by at most `2^1000` at a time, so every factor is
/// finite, and stops once the result is `0` or infinite.
fn times_pow2<T: Real>(mut x: T, mut n: usize) -> T {
    while n > 0 && x.is_finite() && x != T::zero() {
        let step = n.min(1000);
        x = x * T::of(2f64.powi(step as i32));
        n -= step;
    }
    x
}
