//! Exact top-down sampling of `P*`: the inverse renormalisation group (docs/concepts.md, "10. Sampling").

use std::sync::Arc;

use rand::Rng;

use crate::hierarchy::Hierarchy;

/// One shape of exact sampler for every model (docs/concepts.md, "10. Sampling"): a draw of
/// `X_0` from `P*` by inverse RG, top level first, each level from its conditional given the
/// level above. No Markov chain, no burn-in. Implemented by the tabulated [`Sampler`], the
/// chain's and the exchangeable model's samplers, the cascade and the Gaussian solutions.
///
/// ```
/// use hmaxent::{rand::SeedableRng, Hierarchy, Problem, Sample, Temperatures};
/// let h = Hierarchy::complete(2, 2)?;
/// let sol = Problem::new(&h, &[0.0, 1.0, 2.0, 3.0])?.solve(&Temperatures::new(&[1.0, 0.5, 0.5])?)?;
/// let mut rng = hmaxent::rand::rngs::StdRng::seed_from_u64(1);
/// let sampler = sol.sampler();
/// let mut x = sampler.sample(&mut rng);
/// sampler.sample_into(&mut rng, &mut x); // the same draw, reusing `x`
/// assert!(x < 4);
/// # Ok::<(), hmaxent::Error>(())
/// ```
pub trait Sample {
    /// One draw: a level-0 state (tabulated), the states of every site (chains, exchangeable
    /// models), a leaf's child digits (cascades), a vector (Gaussians).
    type Draw;

    /// One exact draw of `X_0 ~ P*` (by default [`Sample::sample_into`] a fresh draw).
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Self::Draw
    where
        Self::Draw: Default,
    {
        let mut draw = Self::Draw::default();
        self.sample_into(rng, &mut draw);
        draw
    }

    /// One exact draw into `out`, reusing its storage (resized to the draw's length if it
    /// has one): after the first call, sampling allocates nothing (Gaussians excepted).
    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut Self::Draw);
}

/// Samples level-0 states of a solved hierarchy exactly: draw `y_d` from `P*_d`, then each
/// level's block conditional, down to `X_0`. No Markov chain, no burn-in.
///
/// Build once with [`crate::Solution::sampler`]; sampling allocates nothing.
///
/// ```
/// # use hmaxent::{Hierarchy, Problem, Sample, Temperatures};
/// # use rand::SeedableRng;
/// let h = Hierarchy::complete(2, 3)?;
/// let sol = Problem::new(&h, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])?
///     .solve(&Temperatures::new(&[1.0, 0.5, 0.5, 0.5])?)?;
/// let sampler = sol.sampler();
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let mut xs = [0usize; 1000];
/// sampler.fill(&mut rng, &mut xs);
/// assert!(xs.iter().all(|&x| x < 8));
/// assert!(sampler.sample(&mut rng) < 8);
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

    /// Fills `out` with independent level-0 samples (user indices): [`Sample::sample`] once
    /// per entry.
    pub fn fill<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [usize]) {
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

/// Draws are level-0 states (user indices).
impl Sample for Sampler {
    type Draw = usize;

    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
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

    fn sample_into<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut usize) {
        *out = self.sample(rng);
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
