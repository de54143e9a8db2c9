//! The chain itself: alphabet, levels, boundary, bond matrices, their validation and the
//! size limits of the flow (docs/families-chain.md).

use crate::error::{Error, Result};
use crate::temperatures::Temperatures;

/// Largest number of level-0 states [`Chain::tabulate`] builds (`2^22`).
pub const MAX_TABULATED_STATES: usize = 1 << 22;

/// Largest number of conditional thresholds a [`super::ChainSampler`] tabulates (`2^30`, 8 GiB).
pub const MAX_SAMPLER_ENTRIES: usize = 1 << 30;

/// The largest alphabet of a chain: one decimation step takes `q^3` work and a `q^3`
/// scratch table (`MAX_Q^3 = 2^24` entries, 128 MiB), and every level a `q^2` bond.
pub const MAX_Q: usize = 256;
/// The largest `(levels + 1) q^2` of a homogeneous chain: its flow's tables (512 MiB).
pub const MAX_FLOW_ENTRIES: usize = 1 << 26;
/// The most work one [`Chain::solve`] may take, in steps of the `q^3` decimation kernel
/// ([`Chain::solve_work`]): `2^26`, about 1.7 s on one core at `q = 256` (measured 12-25 ns
/// per step, the largest at `q = 256`). A chain beyond it is refused when it is built.
/// A mean-constrained solve ([`crate::constraints::solve_mean`]) takes a root search of
/// about a dozen solves (at most [`crate::constraints::root::MAX_EVALUATIONS`]): the command
/// line charges it [`CONSTRAINED_SOLVES`] solves.
pub const MAX_FLOW_WORK: u64 = 1 << 26;
/// The solves a mean-constrained solve is charged on the command line: its root search
/// takes about a dozen, so a constrained chain (and every point of a constrained frontier)
/// must fit `CONSTRAINED_SOLVES` times in [`MAX_FLOW_WORK`] ([`Chain::check_work`]).
pub const CONSTRAINED_SOLVES: u64 = 16;

/// How the chain closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Boundary {
    /// `2^L + 1` sites, `2^L` bonds; bond `i` joins sites `i` and `i + 1`.
    Open,
    /// `2^L` sites, `2^L` bonds; bond `2^L - 1` joins the last site to site 0.
    Ring,
}

/// A nearest-neighbour chain: alphabet size `q`, `L` levels, boundary, and bond matrices
/// `phi_i(a, b)` (row-major `q x q`, `+inf` forbids a pair), either one for every bond
/// (homogeneous) or one per bond, left to right.
///
/// ```
/// # use hmaxent::families::chain::{Boundary, Chain};
/// # use hmaxent::Temperatures;
/// // Free binary chain of 2^3 + 1 = 9 sites: H(Y_k) = (2^(3-k) + 1) log 2 and
/// // F = -sum_k tau_k H(Y_k) = -(9 + 5/2 + 3/2 + 2/2) log 2 = -14 log 2.
/// let chain = Chain::homogeneous(2, 3, Boundary::Open, &[0.0; 4])?;
/// let sol = chain.solve(&Temperatures::new(&[1.0, 0.5, 0.5, 0.5])?)?;
/// let ln2 = 2f64.ln();
/// assert!((sol.summary.free_energy + 14.0 * ln2).abs() < 1e-12);
/// for (k, h) in sol.summary.entropies.iter().enumerate() {
///     assert!((h - ((1u64 << (3 - k)) + 1) as f64 * ln2).abs() < 1e-12);
/// }
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub(super) q: usize,
    pub(super) levels: usize,
    pub(super) boundary: Boundary,
    pub(super) homogeneous: bool,
    /// One `q x q` matrix (homogeneous) or `2^L` of them, row-major, concatenated.
    pub(super) bonds: Vec<f64>,
}

pub(super) fn check_bond(field: &str, bond: &[f64]) -> Result<()> {
    match bond
        .iter()
        .position(|x| x.is_nan() || *x == f64::NEG_INFINITY)
    {
        Some(i) => Err(Error::InvalidValue {
            field: field.to_string(),
            index: i,
            value: bond[i],
            reason: "bond losses must be finite or +inf (null)",
        }),
        None => Ok(()),
    }
}

impl Chain {
    /// A homogeneous chain: every bond has the loss matrix `bond` (`q x q`, row-major:
    /// `bond[a * q + b]` is the loss of left state `a` next to right state `b`).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `q = 0`, or `(levels + 1) q^2` beyond
    /// [`MAX_FLOW_ENTRIES`]; [`Error::InvalidInput`] for a [`Chain::solve_work`] beyond
    /// [`MAX_FLOW_WORK`];
    /// [`Error::LengthMismatch`] if `bond.len() != q^2`; [`Error::InvalidValue`] for NaN or
    /// `-inf` entries.
    pub fn homogeneous(q: usize, levels: usize, boundary: Boundary, bond: &[f64]) -> Result<Self> {
        check_q(q)?;
        // The flow keeps one q x q bond per level and spends q^3 per level (more with
        // derivatives): refuse before allocating what would not fit.
        let per_level = (levels + 1).saturating_mul(q * q);
        if per_level > MAX_FLOW_ENTRIES {
            return Err(Error::InvalidSetting {
                field: "levels",
                value: levels as f64,
                reason: "(levels + 1) q^2 must stay within 2^26 table entries (MAX_FLOW_ENTRIES)",
            });
        }
        check_work(q, levels, true, MAX_FLOW_WORK)?;
        if bond.len() != q * q {
            return Err(Error::length("bond", bond.len(), q * q));
        }
        check_bond("bond", bond)?;
        Ok(Self {
            q,
            levels,
            boundary,
            homogeneous: true,
            bonds: bond.to_vec(),
        })
    }

    /// An inhomogeneous chain: `bonds` holds `2^L` matrices of `q x q` (row-major,
    /// concatenated, left to right).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] for `q = 0` or `2^L q^2` beyond memory;
    /// [`Error::InvalidInput`] for a [`Chain::solve_work`] beyond [`MAX_FLOW_WORK`];
    /// [`Error::LengthMismatch`]; [`Error::InvalidValue`] for NaN or `-inf` entries.
    pub fn inhomogeneous(
        q: usize,
        levels: usize,
        boundary: Boundary,
        bonds: Vec<f64>,
    ) -> Result<Self> {
        check_q(q)?;
        let n = bond_count(levels)
            .and_then(|n| n.checked_mul(q * q))
            .ok_or(Error::InvalidSetting {
                field: "levels",
                value: levels as f64,
                reason: "2^levels bond matrices do not fit in memory",
            })?;
        if bonds.len() != n {
            return Err(Error::length("bonds", bonds.len(), n));
        }
        check_work(q, levels, false, MAX_FLOW_WORK)?;
        if let Some(i) = bonds
            .iter()
            .position(|x| x.is_nan() || *x == f64::NEG_INFINITY)
        {
            check_bond(
                &format!("bonds[{}]", i / (q * q)),
                &bonds[i / (q * q) * q * q..][..q * q],
            )?;
        }
        Ok(Self {
            q,
            levels,
            boundary,
            homogeneous: false,
            bonds,
        })
    }

    /// The work of one [`Chain::solve`] in steps of the `q^3` decimation kernel (saturated at
    /// `u64::MAX`): homogeneous, `q^3 sum_{i < ceil((L + 1) / 8)} (L + 1 - 8 i)` (the
    /// derivative groups of eight directions, each re-running the levels from its first);
    /// inhomogeneous, `2^(L + 1) q^3` (the flow over `2^L - 1` coarse bonds and the top-down
    /// pass over as many).
    pub fn solve_work(&self) -> u64 {
        solve_work(self.q, self.levels, self.homogeneous)
    }

    /// `Ok` when [`Chain::solve_work`] times `solves` stays within `limit` steps, else
    /// [`Error::InvalidInput`] naming the work and the limit (the command line checks a
    /// mean-constrained chain with [`CONSTRAINED_SOLVES`] solves, a frontier with as many per
    /// point, against [`MAX_FLOW_WORK`]).
    pub fn check_work(&self, solves: u64, limit: u64) -> Result<()> {
        let work = self.solve_work().saturating_mul(solves.max(1));
        if work <= limit {
            return Ok(());
        }
        Err(work_error(self.q, self.levels, work, solves, limit))
    }

    /// Alphabet size `q`.
    pub fn q(&self) -> usize {
        self.q
    }

    /// `L`: the number of decimation steps.
    pub fn levels(&self) -> usize {
        self.levels
    }

    /// The boundary condition.
    pub fn boundary(&self) -> Boundary {
        self.boundary
    }

    /// Whether every bond has the same matrix.
    pub fn is_homogeneous(&self) -> bool {
        self.homogeneous
    }

    /// The bond matrix of bond `i` at level 0 (row-major `q x q`).
    ///
    /// # Panics
    /// If `i >= 2^L` (inhomogeneous chains).
    pub fn bond(&self, i: usize) -> &[f64] {
        let qq = self.q * self.q;
        if self.homogeneous {
            &self.bonds
        } else {
            &self.bonds[i * qq..(i + 1) * qq]
        }
    }

    /// Number of sites at level `k`: `2^(L-k) + 1` (open) or `2^(L-k)` (ring); `None` if it
    /// does not fit in `usize`.
    pub fn sites(&self, level: usize) -> Option<usize> {
        let b = bond_count(self.levels.checked_sub(level)?)?;
        match self.boundary {
            Boundary::Open => b.checked_add(1),
            Boundary::Ring => Some(b),
        }
    }

    /// The total loss `f(x) = sum_i phi_i(x_i, x_{i+1})` of a level-0 configuration.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `x` does not have one entry per site;
    /// [`Error::InvalidValue`] for a state `>= q`.
    pub fn loss(&self, x: &[usize]) -> Result<f64> {
        let n = self.sites(0).ok_or(Error::InvalidSetting {
            field: "levels",
            value: self.levels as f64,
            reason: "too many sites to list",
        })?;
        if x.len() != n {
            return Err(Error::length("configuration", x.len(), n));
        }
        if let Some(i) = x.iter().position(|&s| s >= self.q) {
            return Err(Error::InvalidValue {
                field: "configuration".to_string(),
                index: i,
                value: x[i] as f64,
                reason: "states must be below q",
            });
        }
        let q = self.q;
        let bonds = n - usize::from(self.boundary == Boundary::Open);
        Ok((0..bonds)
            .map(|i| self.bond(i)[x[i] * q + x[(i + 1) % n]])
            .sum())
    }

    /// The chain of the loss `-f`: every finite bond entry negated, `+inf` (forbidden) kept.
    pub(crate) fn negated(&self) -> Chain {
        Chain {
            bonds: self
                .bonds
                .iter()
                .map(|&x| if x == f64::INFINITY { x } else { -x })
                .collect(),
            ..*self
        }
    }

    pub(super) fn check_temperatures(&self, t: &Temperatures) -> Result<()> {
        if t.levels() != self.levels + 1 {
            return Err(Error::length("temperatures", t.levels(), self.levels + 1));
        }
        Ok(())
    }
}

/// [`Chain::solve_work`] of a chain not yet built.
fn solve_work(q: usize, levels: usize, homogeneous: bool) -> u64 {
    let cube = (q as u128).pow(3);
    let passes: u128 = if homogeneous {
        let n = levels as u128 + 1;
        (0..n.div_ceil(8)).map(|i| n - 8 * i).sum()
    } else {
        u32::try_from(levels + 1)
            .ok()
            .and_then(|l| 1u128.checked_shl(l))
            .unwrap_or(u128::MAX)
    };
    u64::try_from(cube.saturating_mul(passes)).unwrap_or(u64::MAX)
}

fn check_work(q: usize, levels: usize, homogeneous: bool, limit: u64) -> Result<()> {
    let work = solve_work(q, levels, homogeneous);
    if work <= limit {
        return Ok(());
    }
    Err(work_error(q, levels, work, 1, limit))
}

fn work_error(q: usize, levels: usize, work: u64, solves: u64, limit: u64) -> Error {
    let times = if solves > 1 {
        format!(" times {solves} solves")
    } else {
        String::new()
    };
    Error::InvalidInput(format!(
        "levels = {levels}, q = {q}: the flow would take {work} steps of the q^3 decimation \
         kernel{times}; the limit is {limit} (MAX_FLOW_WORK, about 2 s)"
    ))
}

fn check_q(q: usize) -> Result<()> {
    if q == 0 || q > MAX_Q {
        return Err(Error::InvalidSetting {
            field: "q",
            value: q as f64,
            reason: "the alphabet size must be between 1 and 256 (MAX_Q: a decimation step \
                     takes q^3 work and a q^3 scratch table)",
        });
    }
    Ok(())
}

/// `2^levels`, if it fits in `usize`.
pub(super) fn bond_count(levels: usize) -> Option<usize> {
    u32::try_from(levels)
        .ok()
        .and_then(|l| 1usize.checked_shl(l))
}

pub(super) fn checked_pow(q: usize, m: usize) -> Option<usize> {
    (0..m).try_fold(1usize, |acc, _| acc.checked_mul(q))
}
