//! Exact top-down sampling of `P*`: the inverse renormalisation group (docs/concepts.md, "10. Sampling").

use std::sync::Arc;

use rand::Rng;

use crate::hierarchy::Hierarchy;

/// Samples level-0 states of a solved hierarchy exactly: draw `y_d` from `P*_d`, then each
/// level's block conditional, down to `X_0`. No Markov chain, no burn-in.
///
/// Build once with [`crate::Solution::sampler`]; sampling allocates nothing.
///
/// ```
/// # use hmaxent::{Hierarchy, Problem, Temperatures};
/// # use rand::SeedableRng;
/// let h = Hierarchy::complete(2, 3)?;
/// let sol = Problem::new(&h, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])?
///     .solve(&Temperatures::new(&[1.0, 0.5, 0.5, 0.5])?)?;
/// let sampler = sol.sampler();
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let mut xs = [0usize; 1000];
/// sampler.sample_into(&mut rng, &mut xs);
/// assert!(xs.iter().all(|&x| x < 8));
/// # Ok::<(), hmaxent::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sampler {
    hierarchy: Arc<Hierarchy>,
    /// Per level, block order: running sums of `P*_k` within each block (the top: over all).
    cdf: Vec<Vec<f64>>,
}

impl Sampler {
    pub(crate) fn new(hierarchy: Arc<Hierarchy>, marginals: &[Vec<f64>]) -> Self {
        let d = hierarchy.depth();
        let mut cdf = Vec::with_capacity(d + 1);
        for (k, p) in marginals.iter().enumerate() {
            let mut c = p.clone();
            if k < d {
                let layout = hierarchy.layout(k);
                for y in 0..hierarchy.size(k + 1) {
                    running_sum(&mut c[layout.block(y)]);
                }
            } else {
                running_sum(&mut c);
            }
            cdf.push(c);
        }
        Self { hierarchy, cdf }
    }

    /// One level-0 state (user index).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let h = &*self.hierarchy;
        let d = h.depth();
        let mut pos = pick(&self.cdf[d], rng);
        for k in (0..d).rev() {
            let block = h.layout(k).block(pos);
            let start = block.start;
            pos = start + pick(&self.cdf[k][block], rng);
        }
        h.user_index(0, pos)
    }

    /// Fills `out` with independent level-0 samples (user indices).
    pub fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [usize]) {
        for x in out {
            *x = self.sample(rng);
        }
    }

    /// One sample of the whole path `(y_0, ..., y_d)` (user indices per level) into `path`
    /// (`d + 1` entries).
    ///
    /// # Panics
    /// If `path.len() != d + 1`.
    pub fn sample_path_into<R: Rng + ?Sized>(&self, rng: &mut R, path: &mut [usize]) {
        let h = &*self.hierarchy;
        let d = h.depth();
        assert_eq!(path.len(), d + 1, "path needs one entry per level");
        let mut pos = pick(&self.cdf[d], rng);
        path[d] = h.user_index(d, pos);
        for k in (0..d).rev() {
            let block = h.layout(k).block(pos);
            let start = block.start;
            pos = start + pick(&self.cdf[k][block], rng);
            path[k] = h.user_index(k, pos);
        }
    }
}

fn running_sum(c: &mut [f64]) {
    let mut acc = 0.0;
    for x in c {
        acc += *x;
        *x = acc;
    }
}

/// Index `i` with probability `(cdf[i] - cdf[i-1]) / cdf[last]`; never a zero-mass index.
#[inline]
fn pick<R: Rng + ?Sized>(cdf: &[f64], rng: &mut R) -> usize {
    let total = cdf[cdf.len() - 1];
    let target = rng.random::<f64>() * total;
    let i = cdf.partition_point(|&c| c <= target);
    if i < cdf.len() {
        i
    } else {
        // Rounding put the target on the total: take the last state with positive mass.
        cdf.partition_point(|&c| c < total)
    }
}
