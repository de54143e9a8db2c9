//! The tabulated engine run by subtrees: a two-phase sweep whose memory traffic is close to
//! the output it writes, on as many threads as asked.
//!
//! The levels below a cut level `c` split into independent subtrees (tiles: runs of
//! consecutive level-`c` states whose subtrees hold about [`Tiling::tile_states`] leaves,
//! small enough to stay in the core's cache). Then, with the same driver steps as every
//! other sweep ([`super::coarse_grain_levels`], [`super::sweep`], [`super::reconstruct`],
//! [`super::refine_levels`]):
//!
//! 1. each tile is coarse-grained from its leaves up to level `c`, and only its roots' losses
//!    `g_c` are kept;
//! 2. the small top (levels `c..d`) is solved whole: `F`, its marginals and entropies;
//! 3. each tile is coarse-grained again, in cache, and reconstructed top-down from its roots'
//!    marginal `P*_c`, writing each level's marginal once into the output, and giving its
//!    share `sum_y P*(y) H(X | y)` of every conditional entropy.
//!
//! Tiles are fixed by the hierarchy and `tile_states` alone, never by the number of threads,
//! and their entropy shares are added in tile order, so the results are bit-for-bit the same
//! whatever the number of threads. Extra memory beyond the marginals is a few tiles' tables
//! per thread plus the top's (about `n_c` values).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use super::pool::{BufferPool, Pools};
use super::tabulated::Tabulated;
use super::{coarse_grain_levels, reconstruct, refine_levels, sweep};
use crate::error::Result;
use crate::hierarchy::{Hierarchy, Layout};
use crate::numerics::{
    cpu, finish_sum, gibbs_blocks, scale_blocks_weighted, soft_pairs_into, sum_pairs, Real,
};

/// How a tabulated solve is split into subtrees and threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tiling {
    /// Worker threads (`0`: the number set by [`set_threads`], by default one per core; `1`:
    /// everything on the calling thread).
    pub threads: usize,
    /// Leaves per subtree, about, for `f64` (a subtree larger than this is one tile by
    /// itself; a scalar `w` times wider gets `1/w` as many). Problems with at most twice as
    /// many leaves are solved in one piece.
    pub tile_states: usize,
}

impl Default for Tiling {
    /// The process-wide settings ([`set_threads`], [`set_tile_states`]).
    fn default() -> Self {
        Self {
            threads: 0,
            tile_states: match TILE_STATES.load(Ordering::Relaxed) {
                0 => DEFAULT_TILE_STATES,
                n => n,
            },
        }
    }
}

/// Leaves per tile unless set otherwise: `2^14` `f64` tables of a binary tile (about `3 * 2^14`
/// values with its coarser levels) stay well inside a 1 MiB L2 cache.
pub const DEFAULT_TILE_STATES: usize = 1 << 14;

static THREADS: AtomicUsize = AtomicUsize::new(0);
static TILE_STATES: AtomicUsize = AtomicUsize::new(0);

/// Sets the leaves per tile of tabulated solves from now on (`0`: [`DEFAULT_TILE_STATES`]).
/// Problems with at most twice as many leaves are solved in one piece, so a large value
/// turns tiling off (the plain two-pass sweep, which keeps every level's tables). Results
/// are the same up to the order of additions in the entropies.
pub fn set_tile_states(n: usize) {
    TILE_STATES.store(n, Ordering::Relaxed);
}

/// Sets the number of threads tabulated solves use from now on (`0`: the default, the
/// environment variable `HMAXENT_THREADS` if set to a positive number, else one per core;
/// `1`: single-threaded). Results do not depend on it, bit for bit.
///
/// On Linux, a pool with no more threads than the CPUs the process may use keeps worker
/// `i` on the `i`-th of those CPUs (unless the environment variable `HMAXENT_NO_PIN` is
/// set): left free, the scheduler at times woke both workers on one CPU, or left one
/// waiting behind the other for a whole phase, and a solve then took as long as on one
/// thread.
///
/// ```
/// use hmaxent::rg::tiled::{set_threads, threads};
/// set_threads(1);
/// assert_eq!(threads(), 1);
/// set_threads(0);
/// assert!(threads() >= 1);
/// ```
pub fn set_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The number of threads tabulated solves use (see [`set_threads`]).
pub fn threads() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    match THREADS.load(Ordering::Relaxed) {
        0 => *DEFAULT.get_or_init(|| {
            std::env::var("HMAXENT_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        }),
        n => n,
    }
}

/// A rayon pool with `n` threads, built once per `n` and kept (one thread if `n` cannot be
/// had; `None` if not even that).
fn thread_pool(n: usize) -> Option<Arc<rayon::ThreadPool>> {
    type Pools = Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>>;
    static POOLS: OnceLock<Pools> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(k, _)| *k == n) {
        return Some(Arc::clone(p));
    }
    let cpus = allowed_cpus();
    let pin = n <= cpus.len() && std::env::var_os("HMAXENT_NO_PIN").is_none();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .start_handler(move |i| {
            if pin {
                pin_to(cpus[i]);
            }
        })
        .build()
        // No threads to be had: a pool of one still runs everything.
        .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
        .map(Arc::new)
        .ok()?;
    pools.push((n, Arc::clone(&pool)));
    Some(pool)
}

/// The CPUs this process may run on (empty where that cannot be told).
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `set` is a plain bit mask that `sched_getaffinity` fills in; the macros only
    // read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

/// Keeps the calling thread on `cpu` (a hint: nothing happens if the system refuses).
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) {
    // SAFETY: as in `allowed_cpus`; `sched_setaffinity(0, ..)` affects the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_: usize) {}

thread_local! {
    /// Per-thread tables of the tiles (reused from tile to tile and solve to solve).
    static SCRATCH: Pools = Pools::default();
}

/// Runs `f` on every item, on `threads` threads (in order on this thread for 1), keeping
/// the calling thread's kernel family; results in item order.
pub(crate) fn run<I: Send, R: Send>(
    threads: usize,
    items: Vec<I>,
    f: impl Fn(I) -> R + Sync,
) -> Vec<R> {
    let isa = cpu::active();
    let pool = (threads > 1 && items.len() > 1)
        .then(|| thread_pool(threads))
        .flatten();
    let Some(pool) = pool else {
        // One thread, one item, or no thread to be had: everything on this thread.
        return items.into_iter().map(f).collect();
    };
    pool.install(|| {
        items
            .into_par_iter()
            .map(|item| cpu::with_isa(isa, || f(item)))
            .collect()
    })
}

/// The result of a tabulated solve.
#[derive(Debug)]
pub(crate) struct Solved<T> {
    pub free_energy: T,
    /// `P*_0..P*_d`, block order.
    pub marginals: Vec<Vec<T>>,
    /// `H(Y_k | Y_{k+1})` for `k < d`, then `H(Y_d)`.
    pub conditional_entropies: Vec<T>,
    /// `E[w_k] = sum_x P*_k(x) w_k(x)` for every level `k` (terms with `P*_k(x) = 0` left
    /// out, so `w_k(x) = +inf` there adds nothing; `0` where `w_k` is `None`); empty unless
    /// weights were given ([`solve_expecting`]).
    pub expectations: Vec<T>,
}

/// `sum_x p(x) w(x)` over the terms with `p(x) > 0`.
fn expectation<T: Real>(p: &[T], w: &[T]) -> T {
    let term = |p: T, w: T| if p > T::zero() { p * w } else { T::zero() };
    if let Some((acc, split)) = T::positive_dot_lanes(p, w) {
        return finish_sum(acc, &p[split..], &w[split..], term);
    }
    T::kernel(
        #[inline(always)]
        || sum_pairs(p, w, term),
    )
}

/// Position on level `k` where block `z` of level `k + 1` starts (`z = n_{k+1}` gives `n_k`).
fn block_start(layout: Layout<'_>, z: usize) -> usize {
    match layout {
        Layout::Uniform(b) => b * z,
        Layout::Offsets(o) => o[z] - o[0],
    }
}

/// The cut level and the tiles: for each tile, its positions on levels `0..=c`.
fn plan(h: &Hierarchy, tile_states: usize) -> (usize, Vec<Vec<Range<usize>>>) {
    let d = h.depth();
    let n0 = h.size(0);
    let half = (tile_states / 2).max(1);
    let c = (1..=d)
        .find(|&k| n0 / h.size(k).max(1) >= half)
        .unwrap_or(d);
    let nc = h.size(c);
    // Leaf positions where each level-c state's subtree starts (and n_0 at the end).
    let descend = |mut z: usize, to: usize| {
        for k in (to..c).rev() {
            z = block_start(h.layout(k), z);
        }
        z
    };
    let mut starts: Vec<usize> = (0..=nc).collect();
    for k in (0..c).rev() {
        let layout = h.layout(k);
        starts.iter_mut().for_each(|z| *z = block_start(layout, *z));
    }
    let mut tiles = Vec::new();
    let mut a = 0;
    while a < nc {
        let mut b = a + 1;
        while b < nc && starts[b + 1] - starts[a] <= tile_states {
            b += 1;
        }
        tiles.push(
            (0..=c)
                .map(|k| descend(a, k)..descend(b, k))
                .collect::<Vec<_>>(),
        );
        a = b;
    }
    (c, tiles)
}

/// Splits `v` into consecutive pieces of the given ranges (which tile `0..v.len()` in order).
fn split_by<T>(v: &mut [T], ranges: impl Iterator<Item = Range<usize>>) -> Vec<&mut [T]> {
    let mut rest = v;
    let mut done = 0;
    let mut out = Vec::new();
    for r in ranges {
        let (piece, tail) = std::mem::take(&mut rest).split_at_mut(r.end - done);
        out.push(&mut piece[r.start - done..]);
        rest = tail;
        done = r.end;
    }
    out
}

/// What every tile reads: the hierarchy, potentials `u_1..u_d`, leaf losses and cumulative
/// temperatures (as for [`solve`]).
#[derive(Clone, Copy)]
struct Inputs<'a, T> {
    h: &'a Hierarchy,
    potentials: &'a [Option<Vec<T>>],
    g0: &'a [T],
    cumulative: &'a [T],
}

impl<'a, T: Real> Inputs<'a, T> {
    /// The blocks of level `k + 1` over level `k` inside a tile whose positions on each
    /// level are `ranges` (counted from the tile's first position).
    fn layout(&self, k: usize, ranges: &[Range<usize>]) -> Layout<'a> {
        match self.h.layout(k) {
            Layout::Offsets(o) => Layout::Offsets(&o[ranges[k + 1].start..=ranges[k + 1].end]),
            uniform => uniform,
        }
    }

    /// `g_{k+1} <- g_{k+1} + u_{k+1}` on the tile's positions `range` of level `k + 1`.
    fn add_potential(&self, k: usize, range: Range<usize>, g: &mut [T]) {
        if let Some(Some(u)) = self.potentials.get(k) {
            for (g, &u) in g.iter_mut().zip(&u[range]) {
                *g = *g + u;
            }
        }
    }
}

/// Phase 1 of one tile (`f64`-wide scalars): its roots' losses `g_c` into `out`, read from
/// the leaves in place and coarse-grained through two tables of the thread's `local` pool
/// (the soft minima alone for blocks of two, [`soft_pairs_into`]; the full step otherwise).
fn tile_up<T: Real>(
    problem: Inputs<'_, T>,
    ranges: &[Range<usize>],
    out: &mut [T],
    local: &BufferPool<T>,
) {
    let c = ranges.len() - 1;
    let widest = ranges[1..].iter().map(Range::len).max().unwrap_or(0);
    let (mut a, mut b) = (local.take_len(widest), local.take_len(widest));
    let (mut cond, mut entropy) = (Vec::new(), Vec::new());
    for k in 0..c {
        let src = if k == 0 {
            &problem.g0[ranges[0].clone()]
        } else {
            &a[..ranges[k].len()]
        };
        let n = ranges[k + 1].len();
        let layout = problem.layout(k, ranges);
        if !soft_pairs_into(src, layout, problem.cumulative[k], &mut b[..n]) {
            cond.resize(src.len(), T::zero());
            entropy.resize(n, T::zero());
            gibbs_blocks(
                src,
                layout,
                problem.cumulative[k],
                &mut cond,
                &mut b[..n],
                &mut entropy[..n],
            );
        }
        problem.add_potential(k, ranges[k + 1].clone(), &mut b[..n]);
        std::mem::swap(&mut a, &mut b);
    }
    out.copy_from_slice(&a[..out.len()]);
    local.give(a);
    local.give(b);
}

/// Phase 3 of one tile (`f64`-wide scalars): coarse-grained again from the leaves, every
/// level's conditionals, losses `g_1..g_c` and block entropies kept in tables of the thread's
/// `local` pool (in cache), then scaled in place top-down from the roots' marginal `pc`
/// (`P*(x) = P*(y) P*(x | y)`), each level copied once into the tile's piece of the output
/// marginals `outs` (levels `0..c`, with [`Real::copy_out`]). Returns the tile's share
/// `sum_y P*(y) H(X | y)` of each level's conditional entropy, then its share of each
/// level's expectation of `weights` (see [`Solved::expectations`]).
fn tile_down<T: Real>(
    problem: Inputs<'_, T>,
    ranges: &[Range<usize>],
    pc: &[T],
    outs: Vec<&mut [T]>,
    weights: &[Option<&[T]>],
    local: &BufferPool<T>,
) -> Vec<T> {
    let c = ranges.len() - 1;
    // Level k's conditionals (then marginal) at at[k]..at[k + 1]; g_{k+1} and the entropies
    // of the blocks of level k + 1 at above[k]..above[k + 1].
    let offsets = |from: usize| {
        let mut o = vec![0];
        for r in &ranges[from..] {
            o.push(o[o.len() - 1] + r.len());
        }
        o
    };
    let (at, above) = (offsets(0), offsets(1));
    let mut p = local.take_len(at[c]);
    let mut g = local.take_len(above[c]);
    let mut entropy = local.take_len(above[c]);
    for k in 0..c {
        let (below, next) = g.split_at_mut(above[k]);
        let src = if k == 0 {
            &problem.g0[ranges[0].clone()]
        } else {
            &below[above[k - 1]..]
        };
        let soft = &mut next[..ranges[k + 1].len()];
        let layout = problem.layout(k, ranges);
        let blocks = &mut entropy[above[k]..above[k + 1]];
        gibbs_blocks(
            src,
            layout,
            problem.cumulative[k],
            &mut p[at[k]..at[k + 1]],
            soft,
            blocks,
        );
        problem.add_potential(k, ranges[k + 1].clone(), soft);
    }
    let mut shares = vec![T::zero(); 2 * c];
    for (k, out) in outs.into_iter().enumerate().rev() {
        let (fine, coarser) = p.split_at_mut(at[k + 1]);
        let coarse: &[T] = if k + 1 == c {
            pc
        } else {
            &coarser[..at[k + 2] - at[k + 1]]
        };
        let fine = &mut fine[at[k]..];
        let blocks = &entropy[above[k]..above[k + 1]];
        let layout = problem.layout(k, ranges);
        let w = weights
            .get(k)
            .copied()
            .flatten()
            .map(|w| &w[ranges[k].clone()]);
        if layout == Layout::Uniform(2) && fine.len() == 2 * coarse.len() {
            // Blocks of two: scaling, copy, the blocks' entropy share and the expectation in
            // one pass where a kernel has it.
            // Level 0 ends the tile: its stores are fenced there (the tile's other
            // levels not), and its scaled values are not kept in the tables.
            if let Some((h, e)) = T::scale_pairs_out(coarse, fine, blocks, w, out, k == 0) {
                shares[k] = h;
                shares[c + k] = e;
                continue;
            }
        }
        shares[k] = scale_blocks_weighted(layout, coarse, blocks, fine);
        if let Some(w) = w {
            shares[c + k] = expectation(fine, w);
        }
        T::copy_out(fine, out);
    }
    local.give(p);
    local.give(g);
    local.give(entropy);
    shares
}

/// Solves the tabulated problem on `hierarchy` with potentials `u_1..u_d` (block order, as
/// for [`Tabulated::new`]) for the leaf losses `g0` at cumulative temperatures `cumulative`
/// (`S_0..S_d`): `F`, every level's marginal and every conditional entropy. Marginal tables
/// are taken from `pool`.
///
/// # Errors
/// [`crate::Error::AllForbidden`] if every state has loss `+inf`.
pub(crate) fn solve<T: Real>(
    hierarchy: &Hierarchy,
    potentials: &[Option<Vec<T>>],
    g0: &[T],
    cumulative: &[T],
    tiling: Tiling,
    pool: &BufferPool<T>,
) -> Result<Solved<T>> {
    solve_expecting(hierarchy, potentials, g0, cumulative, tiling, pool, &[])
}

/// [`solve`], also giving the expectation of `weights[k]` (block order, `None` for zero)
/// under every level's marginal ([`Solved::expectations`], one per level if `weights` is
/// not empty). Tiles add their shares while their marginals are in cache, in tile order,
/// so this too is the same bit for bit whatever the number of threads.
///
/// # Errors
/// As [`solve`].
pub(crate) fn solve_expecting<T: Real>(
    hierarchy: &Hierarchy,
    potentials: &[Option<Vec<T>>],
    g0: &[T],
    cumulative: &[T],
    tiling: Tiling,
    pool: &BufferPool<T>,
    weights: &[Option<&[T]>],
) -> Result<Solved<T>> {
    let whole_expectations = |marginals: &[Vec<T>], done: &[T]| -> Vec<T> {
        if weights.is_empty() {
            return Vec::new();
        }
        (0..marginals.len())
            .map(|k| match (done.get(k), weights.get(k)) {
                (Some(&e), _) => e,
                (None, Some(Some(w))) => expectation(&marginals[k], w),
                (None, _) => T::zero(),
            })
            .collect()
    };
    let inputs = Inputs {
        h: hierarchy,
        potentials,
        g0,
        cumulative,
    };
    let d = hierarchy.depth();
    let n0 = hierarchy.size(0);
    let whole = Tabulated::new(hierarchy, potentials).with_pool(pool);
    let table = |src: &[T], pool: &BufferPool<T>| {
        let mut v = pool.take(src.len());
        v.clear();
        v.extend_from_slice(src);
        v
    };
    let width = std::mem::size_of::<T>().div_ceil(std::mem::size_of::<f64>());
    if d == 0 || n0 * width <= 2 * tiling.tile_states {
        // One piece: the plain sweep.
        let g = table(g0, pool);
        let flow = sweep(&whole, &g, cumulative);
        pool.give(g);
        let flow = flow?;
        flow.losses.into_iter().for_each(|v| pool.give(v));
        let rec = reconstruct(&whole, flow.conditionals);
        return Ok(Solved {
            free_energy: flow.free_energy,
            expectations: whole_expectations(&rec.marginals, &[]),
            marginals: rec.marginals,
            conditional_entropies: rec.conditional_entropies,
        });
    }
    let threads = match tiling.threads {
        0 => threads(),
        n => n,
    };
    // Tile sizes are in f64s: wider scalars get proportionally fewer leaves per tile.
    let tile_states = (tiling.tile_states / width).max(1);
    let (c, tiles) = plan(hierarchy, tile_states);

    // Wide scalars (dual numbers) make the steps compute-bound: their tiles keep their
    // conditionals for phase 2 instead of computing them again.
    let keep = std::mem::size_of::<T>() > std::mem::size_of::<f64>();

    // Phase 1: every tile up to level c, keeping its roots' losses.
    let mut gc = pool.take_len(hierarchy.size(c));
    let pieces = split_by(&mut gc, tiles.iter().map(|t| t[c].clone()));
    let up = run(
        threads,
        tiles.iter().zip(pieces).collect(),
        |(ranges, out)| {
            SCRATCH.with(|s| {
                s.with::<T, _>(|local| {
                    if !keep {
                        tile_up(inputs, ranges, out, local);
                        return Ok(None);
                    }
                    let e = Tabulated::new(hierarchy, potentials)
                        .with_pool(local)
                        .window(0, ranges);
                    let g = table(&g0[ranges[0].clone()], local);
                    {
                        let swept = coarse_grain_levels(&e, &g, &cumulative[..c]);
                        local.give(g);
                        let (mut losses, conditionals) = swept?;
                        if let Some(top) = losses.pop() {
                            out.copy_from_slice(&top);
                            local.give(top);
                        }
                        losses.into_iter().for_each(|v| local.give(v));
                        Ok(Some(conditionals))
                    }
                })
            })
        },
    );
    let kept = up.into_iter().collect::<Result<Vec<_>>>()?;

    // The top: levels c..=d, whole.
    let top = whole.window(c, &[]);
    let flow = sweep(&top, &gc, &cumulative[c..]);
    pool.give(gc);
    let flow = flow?;
    flow.losses.into_iter().for_each(|v| pool.give(v));
    let top_rec = reconstruct(&top, flow.conditionals);

    // Phase 2: every tile again, top-down from its roots' marginal, into the output.
    let mut marginals: Vec<Vec<T>> = (0..c).map(|k| pool.take_len(hierarchy.size(k))).collect();
    let mut per_tile: Vec<Vec<&mut [T]>> = tiles.iter().map(|_| Vec::with_capacity(c)).collect();
    for (k, m) in marginals.iter_mut().enumerate() {
        for (slot, piece) in per_tile
            .iter_mut()
            .zip(split_by(m, tiles.iter().map(|t| t[k].clone())))
        {
            slot.push(piece);
        }
    }
    let pc = &top_rec.marginals[0];
    let shares = run(
        threads,
        tiles.iter().zip(per_tile).zip(kept).collect(),
        |((ranges, outs), kept)| {
            SCRATCH.with(|s| {
                s.with::<T, _>(|local| {
                    let Some(conditionals) = kept else {
                        let pc = &pc[ranges[c].clone()];
                        return Ok(tile_down(inputs, ranges, pc, outs, weights, local));
                    };
                    let e = Tabulated::new(hierarchy, potentials)
                        .with_pool(local)
                        .window(0, ranges);
                    let coarse = table(&pc[ranges[c].clone()], local);
                    let rec = refine_levels(&e, conditionals, coarse);
                    for (out, m) in outs.into_iter().zip(rec.marginals.iter()) {
                        out.copy_from_slice(m);
                    }
                    rec.marginals.into_iter().for_each(|v| local.give(v));
                    Ok(rec.conditional_entropies)
                })
            })
        },
    );
    let shares = shares.into_iter().collect::<Result<Vec<_>>>()?;
    // Entropy shares, then (phase 3 without kept conditionals) expectation shares.
    let mut sums = vec![T::zero(); 2 * c];
    for share in &shares {
        for (h, &s) in sums.iter_mut().zip(share) {
            *h = *h + s;
        }
    }
    let tiled_expectations = match shares.first() {
        Some(share) if share.len() == 2 * c => sums.split_off(c),
        _ => Vec::new(),
    };
    let mut conditional_entropies = sums;
    conditional_entropies.truncate(c);
    conditional_entropies.extend(top_rec.conditional_entropies);
    marginals.extend(top_rec.marginals);
    Ok(Solved {
        free_energy: flow.free_energy,
        expectations: whole_expectations(&marginals, &tiled_expectations),
        marginals,
        conditional_entropies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rg::{reconstruct, sweep};
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    /// A random hierarchy in block order: 1..4 top states, each state 0..4 children (so
    /// blocks are unequal and some empty), depth 1..5; losses and potentials with `+inf`
    /// (forbidden) entries; random temperatures.
    /// Hierarchy, leaf losses, potentials `u_1..u_d`, cumulative temperatures.
    type Random = (Hierarchy, Vec<f64>, Vec<Option<Vec<f64>>>, Vec<f64>);

    fn random_problem(seed: u64) -> Random {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let d = rng.random_range(1..=5);
        let (sizes, parents) = crate::hierarchy::testing::random_levels(&mut rng, d, 4, 5);
        let h = Hierarchy::new(sizes.clone(), parents).unwrap();
        let value = |rng: &mut rand::rngs::StdRng| {
            if rng.random_bool(0.1) {
                f64::INFINITY
            } else {
                rng.random_range(-3.0..3.0)
            }
        };
        let mut g0: Vec<f64> = (0..sizes[0]).map(|_| value(&mut rng)).collect();
        g0[0] = 0.5; // at least one allowed leaf
        let potentials = (1..=d)
            .map(|k| {
                rng.random_bool(0.5)
                    .then(|| (0..sizes[k]).map(|_| value(&mut rng)).collect())
            })
            .collect();
        let mut s = 0.0;
        let cumulative = (0..=d)
            .map(|_| {
                s += rng.random_range(0.05..2.0);
                s
            })
            .collect();
        (h, g0, potentials, cumulative)
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    /// The tiled sweep against the plain one (proof: proofs/tiled_sweep.md), for 1 and 2
    /// threads and every kernel family of this CPU; 1 and 2 threads agree bit for bit.
    fn check_against_reference(problem: &Random, tile: usize) {
        let (h, g0, potentials, cumulative) = problem;
        for isa in cpu::available() {
            cpu::with_isa(isa, || {
                let engine = Tabulated::new(h, potentials);
                let flow = sweep(&engine, g0, cumulative);
                let tiling = |threads| Tiling {
                    threads,
                    tile_states: tile,
                };
                let pool = BufferPool::default();
                // Expectations of the leaf losses (finite part) and of every potential.
                let finite: Vec<f64> = g0
                    .iter()
                    .map(|&x| if x.is_finite() { x } else { 0.0 })
                    .collect();
                let weights: Vec<Option<&[f64]>> = std::iter::once(Some(&finite[..]))
                    .chain(potentials.iter().map(|u| u.as_deref()))
                    .collect();
                let one =
                    solve_expecting(h, potentials, g0, cumulative, tiling(1), &pool, &weights);
                let two =
                    solve_expecting(h, potentials, g0, cumulative, tiling(2), &pool, &weights);
                let Ok(flow) = flow else {
                    assert!(one.is_err() && two.is_err());
                    return;
                };
                let rec = reconstruct(&engine, flow.conditionals);
                let (one, two) = (one.unwrap(), two.unwrap());
                assert!(close(one.free_energy, flow.free_energy, 1e-14));
                // Expectations: a plain loop over the reference marginals.
                for (k, w) in weights.iter().enumerate() {
                    let want: f64 = match w {
                        Some(w) => rec.marginals[k]
                            .iter()
                            .zip(*w)
                            .filter(|(p, _)| **p > 0.0)
                            .map(|(p, w)| p * w)
                            .sum(),
                        None => 0.0,
                    };
                    let got = one.expectations[k];
                    assert!(
                        (got - want).abs() <= 1e-13 * want.abs().max(1.0),
                        "E_{k}: {got} vs {want}"
                    );
                }
                for (k, (m, r)) in one.marginals.iter().zip(&rec.marginals).enumerate() {
                    assert_eq!(m.len(), r.len());
                    for (a, b) in m.iter().zip(r) {
                        assert!(close(*a, *b, 1e-14), "{isa:?} level {k}: {a} vs {b}");
                    }
                }
                let pairs = one
                    .conditional_entropies
                    .iter()
                    .zip(&rec.conditional_entropies);
                for (a, b) in pairs {
                    assert!((a - b).abs() <= 1e-13 * b.abs().max(1.0), "{a} vs {b}");
                }
                assert_eq!(one.free_energy.to_bits(), two.free_energy.to_bits());
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                for (a, b) in one.marginals.iter().zip(&two.marginals) {
                    assert_eq!(bits(a), bits(b));
                }
                assert_eq!(
                    bits(&one.conditional_entropies),
                    bits(&two.conditional_entropies)
                );
                assert_eq!(bits(&one.expectations), bits(&two.expectations));
            });
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Random trees with unequal and empty blocks, forbidden states and potentials.
        #[test]
        fn tiled_sweep_equals_the_untiled_reference(seed in any::<u64>(), tile in 1usize..8) {
            let problem = random_problem(seed);
            prop_assume!(problem.0.size(0) > 2 * tile && problem.0.depth() > 0);
            check_against_reference(&problem, tile);
        }

        /// Complete binary trees (the pair kernels), with forbidden leaves and potentials.
        #[test]
        fn tiled_binary_sweep_equals_the_untiled_reference(
            seed in any::<u64>(),
            d in 2usize..11,
            tile in 1usize..64,
        ) {
            let (_, _, _, cumulative) = random_problem(seed);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed);
            let h = Hierarchy::complete(2, d).unwrap();
            let value = |rng: &mut rand::rngs::StdRng| {
                if rng.random_bool(0.05) {
                    f64::INFINITY
                } else {
                    rng.random_range(-3.0..3.0)
                }
            };
            let g0: Vec<f64> = (0..h.size(0)).map(|_| value(&mut rng)).collect();
            let potentials: Vec<Option<Vec<f64>>> = (1..=d)
                .map(|k| {
                    rng.random_bool(0.3)
                        .then(|| (0..h.size(k)).map(|_| value(&mut rng)).collect())
                })
                .collect();
            let s0 = cumulative[0];
            let cumulative: Vec<f64> = (0..=d).map(|k| s0 * (1.0 + k as f64 * 0.7)).collect();
            check_against_reference(&(h, g0, potentials, cumulative), tile);
        }
    }

    /// Dual numbers keep their conditionals between the phases: values and tangents as the
    /// plain sweep's.
    #[test]
    fn tiled_dual_sweep_equals_the_untiled_reference() {
        use crate::dual::Dual;
        for seed in 0..40 {
            let (h, g0, potentials, cumulative) = random_problem(seed);
            let lift = |v: &[f64], k: usize| -> Vec<Dual<2>> {
                v.iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        let mut d = Dual::constant(x);
                        d.eps[k] = ((i * 7) % 5) as f64 - 2.0;
                        d
                    })
                    .collect()
            };
            let g0 = lift(&g0, 0);
            let potentials: Vec<Option<Vec<Dual<2>>>> = potentials
                .iter()
                .map(|u| u.as_ref().map(|u| lift(u, 1)))
                .collect();
            let cumulative: Vec<Dual<2>> = cumulative.iter().map(|&s| Dual::constant(s)).collect();
            let engine = Tabulated::new(&h, &potentials);
            let Ok(flow) = sweep(&engine, &g0, &cumulative) else {
                continue;
            };
            let rec = reconstruct(&engine, flow.conditionals);
            let tiling = Tiling {
                threads: 2,
                tile_states: 3,
            };
            let got = solve(
                &h,
                &potentials,
                &g0,
                &cumulative,
                tiling,
                &BufferPool::default(),
            )
            .unwrap();
            let same = |a: Dual<2>, b: Dual<2>| {
                close(a.re, b.re, 1e-14)
                    && a.eps
                        .iter()
                        .zip(&b.eps)
                        .all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + y.abs()))
            };
            assert!(same(got.free_energy, flow.free_energy));
            for (m, r) in got.marginals.iter().zip(&rec.marginals) {
                assert!(m.iter().zip(r).all(|(&a, &b)| same(a, b)), "seed {seed}");
            }
        }
    }

    #[test]
    fn tiles_cover_every_level_in_order() {
        let h = Hierarchy::complete(2, 10).unwrap();
        let (c, tiles) = plan(&h, 64);
        assert_eq!(c, 5);
        assert_eq!(tiles.len(), 16);
        for k in 0..=c {
            let mut next = 0;
            for t in &tiles {
                assert_eq!(t[k].start, next);
                next = t[k].end;
            }
            assert_eq!(next, h.size(k));
        }
    }
}
