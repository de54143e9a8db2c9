//! The equivalent tabulated problem of a small chain (the property tests' oracle).

use super::definition::{checked_pow, Chain, MAX_TABULATED_STATES};
use crate::error::{Error, Result};
use crate::hierarchy::Hierarchy;
use crate::problem::Problem;

impl Chain {
    /// The equivalent tabulated problem (small instances): level `k` has one state per
    /// configuration of its sites (indices multiple of `2^k`), encoded in base `q` with the
    /// first site most significant; the parent of a configuration is its restriction to the
    /// level-`(k+1)` sites; the level-0 loss is `f`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] above [`MAX_TABULATED_STATES`] level-0 states; as
    /// [`Hierarchy::new`] and [`Problem::new`].
    pub fn tabulate(&self) -> Result<(Hierarchy, Problem)> {
        let too_large = || Error::TooLarge {
            what: "tabulated chain".to_string(),
            states: usize::MAX,
            limit: MAX_TABULATED_STATES,
        };
        let q = self.q;
        let m0 = self.sites(0).ok_or_else(too_large)?;
        let sizes: Vec<usize> = (0..=self.levels)
            .map(|k| {
                let m = self.sites(k).ok_or_else(too_large)?;
                checked_pow(q, m)
                    .filter(|&n| n <= MAX_TABULATED_STATES)
                    .ok_or_else(too_large)
            })
            .collect::<Result<_>>()?;
        let mut parents = Vec::with_capacity(self.levels);
        let mut digits = vec![0usize; m0];
        for (k, &n_k) in sizes.iter().enumerate().take(self.levels) {
            let m = self.sites(k).ok_or_else(too_large)?;
            let parent: Vec<usize> = (0..n_k)
                .map(|x| {
                    decode(x, q, &mut digits[..m]);
                    digits[..m].iter().step_by(2).fold(0, |acc, &d| acc * q + d)
                })
                .collect();
            parents.push(parent);
        }
        let loss: Vec<f64> = (0..sizes[0])
            .map(|x| {
                decode(x, q, &mut digits);
                self.loss(&digits)
            })
            .collect::<Result<_>>()?;
        let h = Hierarchy::new(sizes, parents)?;
        let p = Problem::new(&h, &loss)?;
        Ok((h, p))
    }
}

/// Base-`q` digits of `x`, most significant first, into `out`.
fn decode(mut x: usize, q: usize, out: &mut [usize]) {
    for d in out.iter_mut().rev() {
        *d = x % q;
        x /= q;
    }
}
