//! Small periodic lattices of `±1` spins and their block-spin maps, as a [`Hierarchy`]
//! (docs/ising2d.md).
//!
//! A configuration of an `Lx x Ly` torus (`Lx * Ly <= 24`) is a number `x` in
//! `0..2^(Lx Ly)`: site `i = col + Lx * row` has spin `+1` if bit `i` of `x` is set, else `-1`.
//! A `b x b` block-spin map sends a configuration to one of the `(Lx/b) x (Ly/b)` torus:
//!
//! ```text
//! majority:    S_B = sign(sum_{i in B} s_i), ties to the block's top-left spin
//! decimation:  S_B = the block's top-left spin
//! ```
//!
//! (block `B = (bc, br)` covers columns `b bc .. b bc + b` and rows `b br .. b br + b`; its
//! top-left spin is at column `b bc`, row `b br`). [`Lattice::hierarchy`] stacks such maps,
//! and optionally one top state, into the [`Hierarchy`] they induce, so the 2D Ising
//! block-spin problem takes a few lines:
//!
//! ```
//! use hmaxent::lattice::{BlockMap, Lattice};
//! use hmaxent::{Problem, Temperatures};
//! // The 2 x 2 torus, one 2 x 2 majority block spin, then the top.
//! let lattice = Lattice::new(2, 2)?;
//! let h = lattice.hierarchy(&[BlockMap::majority(2)], true)?;
//! assert_eq!(h.sizes(), &[16, 2, 1]);
//! let beta = 0.4;
//! let loss: Vec<f64> = (0..16).map(|x| beta * lattice.energy(x)).collect();
//! let sol = Problem::new(&h, &loss)?.solve(&Temperatures::new(&[1.0, 0.5, 0.0])?)?;
//! assert!((sol.marginal(1).iter().sum::<f64>() - 1.0).abs() < 1e-14);
//! # Ok::<(), hmaxent::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;

/// Largest number of sites of a [`Lattice`] (`2^24` configurations).
pub const MAX_SITES: usize = 24;

/// A periodic `Lx x Ly` lattice of `±1` spins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lattice {
    columns: usize,
    rows: usize,
}

/// How a block of spins becomes one spin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRule {
    /// The sign of the block's sum, ties to the block's top-left spin.
    Majority,
    /// The block's top-left spin.
    Decimation,
}

/// A `b x b` block-spin map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMap {
    /// The block side `b`.
    pub side: usize,
    /// Majority or decimation.
    pub rule: BlockRule,
}

impl BlockMap {
    /// `b x b` majority block spins (ties to the top-left spin).
    pub fn majority(side: usize) -> Self {
        Self {
            side,
            rule: BlockRule::Majority,
        }
    }

    /// `b x b` decimation (keep the top-left spin).
    pub fn decimation(side: usize) -> Self {
        Self {
            side,
            rule: BlockRule::Decimation,
        }
    }
}

impl Lattice {
    /// The `columns x rows` torus.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a zero side; [`Error::TooLarge`] above [`MAX_SITES`] sites.
    pub fn new(columns: usize, rows: usize) -> Result<Self> {
        if columns == 0 || rows == 0 {
            return Err(Error::InvalidInput(format!(
                "a {columns} x {rows} lattice has no sites"
            )));
        }
        let sites = columns.saturating_mul(rows);
        if sites > MAX_SITES {
            return Err(Error::TooLarge {
                what: format!("{columns} x {rows} lattice"),
                states: sites,
                limit: MAX_SITES,
            });
        }
        Ok(Self { columns, rows })
    }

    /// `Lx`, the number of columns.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// `Ly`, the number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `Lx Ly`.
    pub fn sites(&self) -> usize {
        self.columns * self.rows
    }

    /// `2^(Lx Ly)`.
    pub fn configurations(&self) -> usize {
        1 << self.sites()
    }

    /// The site at column `col`, row `row` (both taken modulo the sides).
    pub fn site(&self, col: usize, row: usize) -> usize {
        col % self.columns + self.columns * (row % self.rows)
    }

    /// The spin (`+1` or `-1`) of site `i` in configuration `x`.
    pub fn spin(&self, x: usize, site: usize) -> i32 {
        if x >> site & 1 == 1 {
            1
        } else {
            -1
        }
    }

    /// The nearest-neighbour bonds: every site with its right and its lower neighbour
    /// (periodic), `2 Lx Ly` bonds (a side of 2 joins the same pair twice, a side of 1 joins
    /// a site to itself, as the periodic sum over neighbours does).
    pub fn bonds(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(2 * self.sites());
        for row in 0..self.rows {
            for col in 0..self.columns {
                let i = self.site(col, row);
                out.push((i, self.site(col + 1, row)));
                out.push((i, self.site(col, row + 1)));
            }
        }
        out
    }

    /// The Ising energy `E(x) = -sum_{bonds (i, j)} s_i s_j` (coupling `J = 1`).
    pub fn energy(&self, x: usize) -> f64 {
        let mut e = 0i64;
        for row in 0..self.rows {
            for col in 0..self.columns {
                let s = self.spin(x, self.site(col, row));
                let right = self.spin(x, self.site(col + 1, row));
                let down = self.spin(x, self.site(col, row + 1));
                e -= i64::from(s * (right + down));
            }
        }
        e as f64
    }

    /// The magnetisation `sum_i s_i` of configuration `x`.
    pub fn magnetisation(&self, x: usize) -> i32 {
        2 * (x.count_ones() as i32) - self.sites() as i32
    }

    /// The coarse lattice of a block map.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the block side is 0 or does not divide both sides.
    pub fn coarse(&self, map: BlockMap) -> Result<Lattice> {
        let b = map.side;
        if b == 0 || !self.columns.is_multiple_of(b) || !self.rows.is_multiple_of(b) {
            return Err(Error::InvalidInput(format!(
                "a {b} x {b} block does not tile the {} x {} lattice",
                self.columns, self.rows
            )));
        }
        Lattice::new(self.columns / b, self.rows / b)
    }

    /// The block-spin configuration of `x` under `map` (a configuration of
    /// [`Lattice::coarse`]).
    ///
    /// # Errors
    /// As [`Lattice::coarse`].
    pub fn block_spins(&self, x: usize, map: BlockMap) -> Result<usize> {
        let coarse = self.coarse(map)?;
        Ok(self.block_spins_unchecked(x, map.side, map.rule, &coarse))
    }

    fn block_spins_unchecked(
        &self,
        x: usize,
        b: usize,
        rule: BlockRule,
        coarse: &Lattice,
    ) -> usize {
        let mut y = 0usize;
        for br in 0..coarse.rows {
            for bc in 0..coarse.columns {
                let corner = self.spin(x, self.site(b * bc, b * br));
                let s = match rule {
                    BlockRule::Decimation => corner,
                    BlockRule::Majority => {
                        let mut sum = 0;
                        for r in 0..b {
                            for c in 0..b {
                                sum += self.spin(x, self.site(b * bc + c, b * br + r));
                            }
                        }
                        match sum.signum() {
                            0 => corner,
                            s => s,
                        }
                    }
                };
                if s == 1 {
                    y |= 1 << coarse.site(bc, br);
                }
            }
        }
        y
    }

    /// The hierarchy induced by a stack of block maps: level 0 the `2^(Lx Ly)`
    /// configurations, level `k` the configurations of the lattice after the first `k` maps,
    /// and, with `top`, one more level with a single state. Configurations are numbered as
    /// in the module documentation at every level.
    ///
    /// # Errors
    /// As [`Lattice::coarse`] for a map that does not tile its lattice.
    pub fn hierarchy(&self, maps: &[BlockMap], top: bool) -> Result<Hierarchy> {
        let mut sizes = vec![self.configurations()];
        let mut parents = Vec::with_capacity(maps.len() + 1);
        let mut fine = *self;
        for &map in maps {
            let coarse = fine.coarse(map)?;
            let parent: Vec<usize> = (0..fine.configurations())
                .map(|x| fine.block_spins_unchecked(x, map.side, map.rule, &coarse))
                .collect();
            sizes.push(coarse.configurations());
            parents.push(parent);
            fine = coarse;
        }
        if top {
            sizes.push(1);
            parents.push(vec![0; fine.configurations()]);
        }
        Hierarchy::new(sizes, parents)
    }
}
