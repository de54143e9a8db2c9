//! Exact sampling of a chain by inverse RG.

use super::definition::{bond_count, Boundary, MAX_SAMPLER_ENTRIES};
use super::flow::ChainFlow;
use crate::error::{Error, Result};
use crate::numerics::gibbs_into;

/// Exact sampler for a chain's `P*` by inverse RG (docs/concepts.md, "10. Sampling"): draw the top sites, then the
/// decimated sites level by level; given its two level-`(k+1)` neighbours `a`, `c` the site
/// between them is independent of everything else,
///
/// ```text
/// P(x | a, c) = exp(-(phi_{k,2j}(a, x) + phi_{k,2j+1}(x, c)) / S_k) / Z(a, c).
/// ```
///
/// The conditionals are tabulated once as 64-bit thresholds (`q^3` per level homogeneous,
/// per odd site inhomogeneous); sampling allocates nothing and uses one `u64` per site.
#[derive(Debug, Clone)]
pub struct ChainSampler {
    q: usize,
    levels: usize,
    boundary: Boundary,
    homogeneous: bool,
    sites: usize,
    /// Per level `k < L`: thresholds `[(pair j)][a][c][x]`.
    tables: Vec<Vec<u64>>,
    /// The top: thresholds over `(a, c)` (open) or `a` (ring).
    top: Vec<u64>,
}

/// Cumulative thresholds of a distribution: `t_i = floor(2^64 (p_0 + .. + p_i))`, with the last
/// state of positive probability (and all after it) at `u64::MAX`.
fn thresholds(p: &[f64], out: &mut [u64]) {
    let last = p.iter().rposition(|&x| x > 0.0).unwrap_or(p.len() - 1);
    let mut acc = 0.0;
    for (i, (&x, t)) in p.iter().zip(out.iter_mut()).enumerate() {
        acc += x;
        *t = if i >= last {
            u64::MAX
        } else {
            (acc * 18_446_744_073_709_551_616.0) as u64
        };
    }
}

#[inline(always)]
fn pick(t: &[u64], r: u64) -> usize {
    let mut i = 0;
    while i + 1 < t.len() && r >= t[i] {
        i += 1;
    }
    i
}

impl ChainSampler {
    pub(super) fn new(flow: &ChainFlow) -> Result<Self> {
        let q = flow.q;
        let sites = match (flow.boundary, bond_count(flow.levels)) {
            (Boundary::Open, Some(n)) if n < usize::MAX => n + 1,
            (Boundary::Ring, Some(n)) => n,
            _ => {
                return Err(Error::TooLarge {
                    what: "chain sampler".to_string(),
                    states: usize::MAX,
                    limit: usize::MAX,
                })
            }
        };
        // Tables: q^3 thresholds per level (homogeneous) or per odd site.
        let entries = flow
            .losses
            .iter()
            .take(flow.levels)
            .map(|g| {
                let pairs = if flow.homogeneous {
                    1
                } else {
                    g.bonds.len() / (q * q) / 2
                };
                pairs.saturating_mul(q * q * q)
            })
            .fold(0usize, usize::saturating_add);
        if entries > MAX_SAMPLER_ENTRIES {
            return Err(Error::TooLarge {
                what: "chain sampler tables".to_string(),
                states: entries,
                limit: MAX_SAMPLER_ENTRIES,
            });
        }
        let mut x = vec![0.0; q];
        let mut p = vec![0.0; q];
        let mut tables = Vec::with_capacity(flow.levels);
        for k in 0..flow.levels {
            let g = &flow.losses[k].bonds;
            let s = flow.cumulative[k];
            let qq = q * q;
            let pairs = if flow.homogeneous {
                1
            } else {
                g.len() / qq / 2
            };
            let mut t = vec![0u64; pairs * qq * q];
            for j in 0..pairs {
                let (l, r) = if flow.homogeneous {
                    (&g[..qq], &g[..qq])
                } else {
                    (
                        &g[2 * j * qq..(2 * j + 1) * qq],
                        &g[(2 * j + 1) * qq..][..qq],
                    )
                };
                for a in 0..q {
                    for c in 0..q {
                        for (b, xb) in x.iter_mut().enumerate() {
                            *xb = l[a * q + b] + r[b * q + c];
                        }
                        gibbs_into(&x, s, &mut p);
                        thresholds(&p, &mut t[((j * q + a) * q + c) * q..][..q]);
                    }
                }
            }
            tables.push(t);
        }
        let g = &flow.losses[flow.levels].bonds;
        let s = flow.cumulative[flow.levels];
        let top_losses: Vec<f64> = match flow.boundary {
            Boundary::Open => g[..q * q].to_vec(),
            Boundary::Ring => (0..q).map(|a| g[a * q + a]).collect(),
        };
        let mut p = vec![0.0; top_losses.len()];
        gibbs_into(&top_losses, s, &mut p);
        let mut top = vec![0u64; p.len()];
        thresholds(&p, &mut top);
        Ok(Self {
            q,
            levels: flow.levels,
            boundary: flow.boundary,
            homogeneous: flow.homogeneous,
            sites,
            tables,
            top,
        })
    }

    /// Number of sites of a sample.
    pub fn sites(&self) -> usize {
        self.sites
    }

    /// Draws one configuration of all sites into `out` (states `0..q`), exactly from `P*`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if `out.len()` is not the number of sites.
    pub fn sample_into<R: rand::RngCore + ?Sized>(
        &self,
        rng: &mut R,
        out: &mut [u32],
    ) -> Result<()> {
        if out.len() != self.sites {
            return Err(Error::length("sample buffer", out.len(), self.sites));
        }
        let q = self.q;
        let n = 1usize << self.levels; // bonds = index of the last open site
        let top = pick(&self.top, rng.next_u64());
        match self.boundary {
            Boundary::Open => {
                out[0] = (top / q) as u32;
                out[n] = (top % q) as u32;
            }
            Boundary::Ring => out[0] = top as u32,
        }
        // Ring: the right neighbour of the last odd site is site 0.
        let mask = match self.boundary {
            Boundary::Open => usize::MAX,
            Boundary::Ring => n - 1,
        };
        let qqq = q * q * q;
        for k in (0..self.levels).rev() {
            let step = 1usize << k;
            let table = &self.tables[k];
            let pairs = n >> (k + 1);
            if q == 2 && self.homogeneous {
                let t: [u64; 8] = table[..8].try_into().expect("q^3 = 8 thresholds");
                for j in 0..pairs {
                    let i = step * (2 * j + 1);
                    let a = out[i - step] as usize;
                    let c = out[(i + step) & mask] as usize;
                    out[i] = u32::from(rng.next_u64() >= t[(a * 2 + c) * 2]);
                }
                continue;
            }
            for j in 0..pairs {
                let i = step * (2 * j + 1);
                let a = out[i - step] as usize;
                let c = out[(i + step) & mask] as usize;
                let base = if self.homogeneous { 0 } else { j * qqq };
                let t = &table[base + (a * q + c) * q..][..q];
                out[i] = pick(t, rng.next_u64()) as u32;
            }
        }
        Ok(())
    }
}

impl ChainFlow {
    /// A sampler for `P*` (inverse RG, docs/concepts.md, "10. Sampling").
    ///
    /// # Errors
    /// [`crate::Error::TooLarge`] if the chain has more sites than `usize` can index, or its
    /// conditional tables would exceed [`MAX_SAMPLER_ENTRIES`].
    pub fn sampler(&self) -> Result<ChainSampler> {
        ChainSampler::new(self)
    }
}
