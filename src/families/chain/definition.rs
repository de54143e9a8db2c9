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
/// The largest `(levels + 1) q^3` of a homogeneous chain: its flow's work.
pub const MAX_FLOW_WORK: usize = 1 << 36;

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
    /// [`MAX_FLOW_ENTRIES`] or `(levels + 1) q^3` beyond [`MAX_FLOW_WORK`];
    /// [`Error::LengthMismatch`] if `bond.len() != q^2`; [`Error::InvalidValue`] for NaN or
    /// `-inf` entries.
    pub fn homogeneous(q: usize, levels: usize, boundary: Boundary, bond: &[f64]) -> Result<Self> {
        check_q(q)?;
        // The flow keeps one q x q bond per level and spends q^3 per level (more with
        // derivatives): refuse before allocating what would not fit.
        let per_level = (levels + 1).saturating_mul(q * q);
        if per_level > MAX_FLOW_ENTRIES || per_level.saturating_mul(q) > MAX_FLOW_WORK {
            return Err(Error::InvalidSetting {
                field: "levels",
                value: levels as f64,
                reason: "(levels + 1) q^2 must stay within 2^26 table entries (MAX_FLOW_ENTRIES) \
                         and (levels + 1) q^3 within 2^36 steps (MAX_FLOW_WORK)",
            });
        }
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
