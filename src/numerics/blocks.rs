//! Block kernels: one renormalisation step over every block of a level, and the top-down
//! scaling of children by their block's marginal.

use super::layout::Layout;
use super::real::Real;
use super::reduce::{finish_sum, sum_pairs};

/// `out[x] <- out[x] * coarse[y]` for every child `x` of every block `y` (the top-down step
/// `P*(x) = P*(y) P*(x | y)` of docs/concepts.md, 'Theorem A'); blocks of 2 get a loop that vectorises.
pub(crate) fn scale_blocks<T: Real>(layout: Layout<'_>, coarse: &[T], out: &mut [T]) {
    match layout {
        Layout::Uniform(2) => scale_uniform::<T, 2>(coarse, out),
        Layout::Uniform(4) => scale_uniform::<T, 4>(coarse, out),
        Layout::Uniform(b) => {
            for (block, &py) in out.chunks_exact_mut(b.max(1)).zip(coarse) {
                block.iter_mut().for_each(|c| *c = *c * py);
            }
        }
        Layout::Offsets(o) => {
            let base = o.first().copied().unwrap_or(0);
            for (w, &py) in o.windows(2).zip(coarse) {
                out[w[0] - base..w[1] - base]
                    .iter_mut()
                    .for_each(|c| *c = *c * py);
            }
        }
    }
}

/// [`scale_blocks`] fused with the weighted sum `sum_y coarse[y] h[y]` (the top-down step and
/// `H(Y_k | Y_{k+1}) = sum_y P*(y) H(X | y)`), so the coarse marginal is read once. The sum
/// has the 8 partial sums of [`sum_pairs`] (for blocks of 2 and 4 the same value bit for bit).
pub(crate) fn scale_blocks_weighted<T: Real>(
    layout: Layout<'_>,
    coarse: &[T],
    h: &[T],
    out: &mut [T],
) -> T {
    match layout {
        Layout::Uniform(2) => T::kernel(
            #[inline(always)]
            || scale_pairs_weighted(coarse, h, out),
        ),
        Layout::Uniform(4) => T::kernel(
            #[inline(always)]
            || scale_uniform_weighted::<T, 4>(coarse, h, out),
        ),
        _ => {
            scale_blocks(layout, coarse, out);
            sum_pairs(coarse, h, |py, hy| py * hy)
        }
    }
}

/// [`scale_uniform_weighted`] for blocks of two, written so that it vectorises: each group
/// of 8 coarse values is first spread over the 16 children (`[c0, c0, c1, c1, ...]`). The
/// same products and the same 8 partial sums, so the same values bit for bit.
#[inline(always)]
fn scale_pairs_weighted<T: Real>(coarse: &[T], h: &[T], out: &mut [T]) -> T {
    const LANES: usize = 8;
    let n = coarse.len().min(h.len()).min(out.len() / 2);
    let (coarse, h, out) = (&coarse[..n], &h[..n], &mut out[..n * 2]);
    if let Some((acc, split)) = T::scale_pairs_lanes(coarse, h, out) {
        return weighted_tail::<T, 2>(acc, &coarse[split..], &h[split..], &mut out[split * 2..]);
    }
    let split = n / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for ((c, hy), o) in coarse[..split]
        .chunks_exact(LANES)
        .zip(h[..split].chunks_exact(LANES))
        .zip(out[..split * 2].chunks_exact_mut(2 * LANES))
    {
        let mut spread = [T::zero(); 2 * LANES];
        for i in 0..LANES {
            acc[i] = acc[i] + c[i] * hy[i];
            spread[2 * i] = c[i];
            spread[2 * i + 1] = c[i];
        }
        for (x, &s) in o.iter_mut().zip(&spread) {
            *x = *x * s;
        }
    }
    weighted_tail::<T, 2>(acc, &coarse[split..], &h[split..], &mut out[split * 2..])
}

#[inline(always)]
fn scale_uniform_weighted<T: Real, const B: usize>(coarse: &[T], h: &[T], out: &mut [T]) -> T {
    const LANES: usize = 8;
    let n = coarse.len().min(h.len()).min(out.len() / B);
    let (coarse, h, out) = (&coarse[..n], &h[..n], &mut out[..n * B]);
    let split = n / LANES * LANES;
    let mut acc = [T::zero(); LANES];
    for ((c, hy), o) in coarse[..split]
        .chunks_exact(LANES)
        .zip(h[..split].chunks_exact(LANES))
        .zip(out[..split * B].chunks_exact_mut(LANES * B))
    {
        for i in 0..LANES {
            acc[i] = acc[i] + c[i] * hy[i];
            for x in &mut o[i * B..(i + 1) * B] {
                *x = *x * c[i];
            }
        }
    }
    weighted_tail::<T, B>(acc, &coarse[split..], &h[split..], &mut out[split * B..])
}

/// The end of the weighted scalings: the blocks after the last group of 8 scaled one by
/// one, and the 8 partial sums `acc` added pairwise, then the tail's sum.
#[inline(always)]
fn weighted_tail<T: Real, const B: usize>(acc: [T; 8], coarse: &[T], h: &[T], out: &mut [T]) -> T {
    scale_uniform::<T, B>(coarse, out);
    finish_sum(acc, coarse, h, |x, y| x * y)
}

#[inline(always)]
fn scale_uniform<T: Real, const B: usize>(coarse: &[T], out: &mut [T]) {
    for (block, &py) in out.chunks_exact_mut(B).zip(coarse) {
        for c in block {
            *c = *c * py;
        }
    }
}

/// Positions per chunk of the blocked kernel: small enough for L1, large enough to vectorise.
const CHUNK: usize = 512;

/// One renormalisation step over every block of a level (docs/concepts.md, 'Theorem A'), in the log domain.
///
/// For each coarse state `y` (block `B(y)` of `g` given by `layout`), at cumulative
/// temperature `s > 0`, with `m_y = min_{B(y)} g`:
///
/// ```text
/// cond[x]    = exp(-(g[x] - m_y) / s) / Z_y,     Z_y = sum_{x in B(y)} exp(-(g[x] - m_y) / s)
/// soft[y]    = m_y - s log Z_y                    (= -s log sum exp(-g / s))
/// entropy[y] = -sum_x cond[x] log cond[x]         (= log Z_y + sum_x cond[x] (g[x] - m_y) / s)
/// ```
///
/// An empty or all-`+inf` block gets `soft = +inf`, `entropy = 0`, conditionals 0. The work
/// is done in chunks of about `CHUNK` (512) positions so the exponentials of a chunk are one
/// vectorised call ([`Real::exp_in_place`]), the logarithms of its `Z_y` another
/// ([`Real::ln_in_place`]), and the data stays in L1. Blocks of 2 and 4 children get
/// fixed-size kernels whose loops vectorise across blocks.
pub(crate) fn gibbs_blocks<T: Real>(
    g: &[T],
    layout: Layout<'_>,
    s: T,
    cond: &mut [T],
    soft: &mut [T],
    entropy: &mut [T],
) {
    let nb = soft.len();
    assert!(entropy.len() == nb && cond.len() == g.len());
    let outputs = [
        Out::Slice(cond, 0),
        Out::Slice(soft, 0),
        Out::Slice(entropy, 0),
    ];
    gibbs_dispatch(g, layout, nb, s, outputs);
}

/// [`gibbs_blocks`] into the given vectors `[cond, soft, entropy]`, reusing their
/// memory (e.g. from a `BufferPool`): a vector already holding at least
/// as many values as it must return is truncated and overwritten in place; a shorter one is
/// cleared and grown chunk by chunk.
pub(crate) fn gibbs_blocks_grow<T: Real>(
    g: &[T],
    layout: Layout<'_>,
    n_coarse: usize,
    s: T,
    buffers: [Vec<T>; 3],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let [mut cond, mut soft, mut entropy] = buffers;
    let outputs = [
        Out::reuse(&mut cond, g.len()),
        Out::reuse(&mut soft, n_coarse),
        Out::reuse(&mut entropy, n_coarse),
    ];
    gibbs_dispatch(g, layout, n_coarse, s, outputs);
    (cond, soft, entropy)
}

/// Where a kernel writes: a caller's slice (with the next position), or a vector grown by
/// one chunk at a time.
enum Out<'a, T> {
    Slice(&'a mut [T], usize),
    Grow(&'a mut Vec<T>),
}

impl<'a, T: Real> Out<'a, T> {
    /// Writes `len` values over `v`: in place if it holds that many already (no clearing
    /// pass), else grown from empty.
    fn reuse(v: &'a mut Vec<T>, len: usize) -> Self {
        if v.len() >= len {
            v.truncate(len);
            Out::Slice(v.as_mut_slice(), 0)
        } else {
            v.clear();
            Out::Grow(v)
        }
    }

    /// The next `len` outputs, in order.
    #[inline(always)]
    fn next(&mut self, len: usize) -> &mut [T] {
        match self {
            Out::Slice(s, pos) => {
                let start = *pos;
                *pos += len;
                &mut s[start..start + len]
            }
            Out::Grow(v) => {
                let start = v.len();
                v.resize(start + len, T::zero());
                &mut v[start..]
            }
        }
    }
}

fn gibbs_dispatch<T: Real>(g: &[T], layout: Layout<'_>, nb: usize, s: T, out: [Out<'_, T>; 3]) {
    if !(T::one() / s).is_finite() {
        // 1/s overflows (s below ~5.6e-309): divide, in the general kernel.
        let blocks = |y| layout.block(y);
        return gibbs_general(g, blocks, nb, s, out);
    }
    match layout {
        Layout::Uniform(2) => T::kernel(
            #[inline(always)]
            || gibbs_pairs(g, s, out),
        ),
        Layout::Uniform(4) => T::kernel(
            #[inline(always)]
            || gibbs_uniform::<T, 4>(g, s, out),
        ),
        Layout::Uniform(b) => gibbs_general(g, |y| b * y..b * (y + 1), nb, s, out),
        Layout::Offsets(o) => gibbs_general(g, |y| o[y] - o[0]..o[y + 1] - o[0], nb, s, out),
    }
}

/// `(m - x) / s` as a multiplication by `1/s` (exact enough, much cheaper), or a division
/// where `1/s` overflows.
#[derive(Clone, Copy)]
struct Scale<T> {
    s: T,
    inv_s: T,
    use_inv: bool,
}

impl<T: Real> Scale<T> {
    fn new(s: T) -> Self {
        let inv_s = T::one() / s;
        Self {
            s,
            inv_s,
            use_inv: inv_s.is_finite(),
        }
    }

    #[inline(always)]
    fn apply(self, d: T) -> T {
        if self.use_inv {
            d * self.inv_s
        } else {
            d / self.s
        }
    }
}

/// Minimum of a non-empty block (`+inf` if all `+inf`), as selects that vectorise.
#[inline(always)]
fn block_min<T: Real>(g: &[T]) -> T {
    match g.split_first() {
        Some((&first, rest)) => rest.iter().fold(first, |m, &x| if x < m { x } else { m }),
        None => T::infinity(),
    }
}

/// Step 1 of a block: `cond = (m - g) / s` (`-inf` everywhere in an all-`+inf` block, where
/// `m` is replaced by 0 so that `0 - inf = -inf`). No branches, so it vectorises.
#[inline(always)]
fn shifted_block<T: Real>(g: &[T], m: T, scale: Scale<T>, cond: &mut [T]) {
    let base = if m < T::infinity() { m } else { T::zero() };
    if scale.use_inv {
        for (c, &x) in cond.iter_mut().zip(g) {
            *c = (base - x) * scale.inv_s;
        }
    } else {
        for (c, &x) in cond.iter_mut().zip(g) {
            *c = (base - x) / scale.s;
        }
    }
}

/// [`shifted_block`] when `1/s` is finite: one form, so loops over blocks vectorise.
#[inline(always)]
fn shifted_block_mul<T: Real>(g: &[T], m: T, inv_s: T, cond: &mut [T]) {
    let base = if m < T::infinity() { m } else { T::zero() };
    for (c, &x) in cond.iter_mut().zip(g) {
        *c = (base - x) * inv_s;
    }
}

/// Step 2 of a block, after the exponentials: `(1 / Z, Z)` (`1 / Z = 0` for `Z = 0`).
#[inline(always)]
fn block_partition<T: Real>(w: &[T]) -> (T, T) {
    let z = w.iter().fold(T::zero(), |acc, &w| acc + w);
    let inv = if z > T::zero() {
        T::one() / z
    } else {
        T::zero()
    };
    (inv, z)
}

/// Step 3 of a block, after `ln Z`: normalise the conditionals, return `(soft, entropy)`.
#[inline(always)]
fn finish_block<T: Real>(
    g: &[T],
    m: T,
    inv_z: T,
    ln_z: T,
    scale: Scale<T>,
    cond: &mut [T],
) -> (T, T) {
    let mut acc = T::zero();
    for (c, &x) in cond.iter_mut().zip(g) {
        let p = *c * inv_z;
        *c = p;
        // p = 0 exactly where x = +inf (or underflow): contributes nothing.
        acc = acc
            + if p > T::zero() {
                p * (x - m)
            } else {
                T::zero()
            };
    }
    if m < T::infinity() {
        (m - scale.s * ln_z, ln_z + scale.apply(acc))
    } else {
        (T::infinity(), T::zero())
    }
}

/// [`gibbs_blocks`] for blocks of exactly `B` consecutive children, when `1/s` is finite.
#[inline(always)]
fn gibbs_uniform<T: Real, const B: usize>(g: &[T], s: T, out: [Out<'_, T>; 3]) {
    let [mut cond_out, mut soft_out, mut entropy_out] = out;
    let scale = Scale::new(s);
    let per = (CHUNK / B).max(1);
    let mut mins = vec![T::zero(); per.min(g.len() / B)];
    let mut inv_z = mins.clone();
    let mut ln_z = mins.clone();
    for g in g.chunks(per * B) {
        let k = g.len() / B;
        let cond = cond_out.next(g.len());
        let (soft, entropy) = (soft_out.next(k), entropy_out.next(k));
        let (mins, inv_z, ln_z) = (&mut mins[..k], &mut inv_z[..k], &mut ln_z[..k]);
        for ((m, gb), cb) in mins
            .iter_mut()
            .zip(g.chunks_exact(B))
            .zip(cond.chunks_exact_mut(B))
        {
            *m = block_min(gb);
            shifted_block_mul(gb, *m, scale.inv_s, cb);
        }
        T::exp_in_place(cond);
        for ((iz, lz), cb) in inv_z
            .iter_mut()
            .zip(ln_z.iter_mut())
            .zip(cond.chunks_exact(B))
        {
            (*iz, *lz) = block_partition(cb);
        }
        T::ln_in_place(ln_z);
        let per_block = mins.iter().zip(inv_z.iter()).zip(ln_z.iter());
        let outputs = soft.iter_mut().zip(entropy.iter_mut());
        let data = g.chunks_exact(B).zip(cond.chunks_exact_mut(B));
        for (((&m, &iz), &lz), ((sf, en), (gb, cb))) in per_block.zip(outputs.zip(data)) {
            (*sf, *en) = finish_block(gb, m, iz, lz, scale, cb);
        }
    }
}

/// The soft minima of [`gibbs_blocks`] alone (no conditionals, no entropies), into `buffer`
/// (reused as by [`gibbs_blocks_grow`]), for blocks of two when `1/s` is finite; `None`
/// (and `buffer` dropped) for other layouts. The same operations as the pair kernel of
/// [`gibbs_blocks`], so the same values bit for bit:
///
/// ```text
/// w = exp(-(hi - lo) / s),   soft = lo - s log1p(w)      (+inf for an all-+inf block)
/// ```
///
/// with `log1p` from [`Real::ln_1p_in_place`] (`w` is in `[0, 1]`).
pub(crate) fn soft_pairs_grow<T: Real>(
    g: &[T],
    layout: Layout<'_>,
    n_coarse: usize,
    s: T,
    buffer: Vec<T>,
) -> Option<Vec<T>> {
    if layout != Layout::Uniform(2) || !(T::one() / s).is_finite() {
        return None;
    }
    let mut soft = buffer;
    let mut out = Out::reuse(&mut soft, n_coarse);
    T::kernel(
        #[inline(always)]
        || soft_pairs(g, s, &mut out),
    );
    Some(soft)
}

/// [`soft_pairs_grow`] into a caller's slice `soft` (one value per block of two): `false`
/// (and nothing written) unless the layout is blocks of two and `1/s` is finite.
pub(crate) fn soft_pairs_into<T: Real>(g: &[T], layout: Layout<'_>, s: T, soft: &mut [T]) -> bool {
    if layout != Layout::Uniform(2) || !(T::one() / s).is_finite() {
        return false;
    }
    assert_eq!(soft.len(), g.len() / 2);
    let mut out = Out::Slice(soft, 0);
    T::kernel(
        #[inline(always)]
        || soft_pairs(g, s, &mut out),
    );
    true
}

#[inline(always)]
fn soft_pairs<T: Real>(g: &[T], s: T, soft_out: &mut Out<'_, T>) {
    let inv_s = T::one() / s;
    let per = CHUNK / 2;
    let all = g;
    let mut mins = vec![T::zero(); per.min(g.len() / 2)];
    let mut w = mins.clone();
    let mut ln_z = mins.clone();
    for (i, g) in g.chunks(per * 2).enumerate() {
        let part = |j: usize| prefetch_part(all, (i + PREFETCH_AHEAD) * per * 2, j);
        part(0);
        let soft = soft_out.next(g.len() / 2);
        // Whole groups of 8 blocks in registers where there is a kernel for it; the rest here.
        let ahead = all.get((i + PREFETCH_AHEAD) * per * 2..).unwrap_or(&[]);
        let done = T::soft_pairs_lanes(g, ahead, s, soft);
        let (g, soft) = (&g[2 * done..], &mut soft[done..]);
        let k = g.len() / 2;
        if k == 0 {
            continue;
        }
        let (mins, w, ln_z) = (&mut mins[..k], &mut w[..k], &mut ln_z[..k]);
        for ((m, w), pair) in mins.iter_mut().zip(w.iter_mut()).zip(g.chunks_exact(2)) {
            let (a, b) = (pair[0], pair[1]);
            let (lo, hi) = if b < a { (b, a) } else { (a, b) };
            *m = lo;
            let base = if lo < T::infinity() { lo } else { T::zero() };
            *w = (base - hi) * inv_s;
        }
        part(1);
        T::exp_in_place(w);
        part(2);
        ln_z.copy_from_slice(w);
        T::ln_1p_in_place(ln_z);
        part(3);
        for ((&m, &lz), sf) in mins.iter().zip(ln_z.iter()).zip(soft) {
            *sf = if m < T::infinity() {
                m - s * lz
            } else {
                T::infinity()
            };
        }
    }
}

/// How far ahead the pair kernels prefetch their input (in chunks), and in how many parts:
/// a burst of a whole chunk's 64 lines fills the core's line-fill buffers and stalls it, so
/// each quarter is asked for between two of the chunk's passes (measured on 2^22 leaves,
/// one thread: 7-10 % less CPU time than the next chunk in one burst).
const PREFETCH_AHEAD: usize = 2;
const PREFETCH_PARTS: usize = 4;

/// Prefetches part `j` of [`PREFETCH_PARTS`] of the chunk of `CHUNK` values at `start`.
#[inline(always)]
fn prefetch_part<T>(all: &[T], start: usize, j: usize) {
    let part = CHUNK / PREFETCH_PARTS;
    prefetch(all.get(start + j * part..).unwrap_or(&[]), part);
}

/// Asks for the first `len` values of `next` to be brought into the cache (a hint, no effect
/// on results): the hardware prefetcher does not cross 4 KiB pages, and the leaves of a
/// large problem come from memory one chunk (a page) after another.
#[inline(always)]
fn prefetch<T>(next: &[T], len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(&next[..len.min(next.len())]);
        let base = next.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: the address is inside `next` (prefetches never fault anyway).
            unsafe { _mm_prefetch(base.add(offset), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (next, len);
}

/// [`gibbs_blocks`] for blocks of two (binary trees), when `1/s` is finite. The smaller
/// child has weight `exp(0) = 1`, so one exponential per block suffices:
/// `w = exp(-(hi - lo) / s)`, `Z = 1 + w`, `P(lo) = 1 / Z`, `P(hi) = w / Z`,
/// `entropy = log Z + P(hi) (hi - lo) / s` — the general formulas with one term known.
#[inline(always)]
fn gibbs_pairs<T: Real>(g: &[T], s: T, out: [Out<'_, T>; 3]) {
    let [mut cond_out, mut soft_out, mut entropy_out] = out;
    let inv_s = T::one() / s;
    let per = CHUNK / 2;
    let all = g;
    let mut mins = vec![T::zero(); per.min(g.len() / 2)];
    let mut w = mins.clone();
    let mut ln_z = mins.clone();
    for (i, g) in g.chunks(per * 2).enumerate() {
        let part = |j: usize| prefetch_part(all, (i + PREFETCH_AHEAD) * per * 2, j);
        part(0);
        let cond = cond_out.next(g.len());
        let (soft, entropy) = (soft_out.next(g.len() / 2), entropy_out.next(g.len() / 2));
        // Whole groups of 8 blocks in registers where there is a kernel for it; the rest here.
        let ahead = all.get((i + PREFETCH_AHEAD) * per * 2..).unwrap_or(&[]);
        let done = T::gibbs_pairs_lanes(g, ahead, s, cond, soft, entropy);
        let (g, cond) = (&g[2 * done..], &mut cond[2 * done..]);
        let (soft, entropy) = (&mut soft[done..], &mut entropy[done..]);
        let k = g.len() / 2;
        if k == 0 {
            continue;
        }
        let (mins, w, ln_z) = (&mut mins[..k], &mut w[..k], &mut ln_z[..k]);
        for ((m, w), pair) in mins.iter_mut().zip(w.iter_mut()).zip(g.chunks_exact(2)) {
            let (a, b) = (pair[0], pair[1]);
            let (lo, hi) = if b < a { (b, a) } else { (a, b) };
            *m = lo;
            // All +inf: 0 - inf = -inf, so w = 0 (the block is masked below).
            let base = if lo < T::infinity() { lo } else { T::zero() };
            *w = (base - hi) * inv_s;
        }
        part(1);
        T::exp_in_place(w);
        part(2);
        ln_z.copy_from_slice(w);
        // log1p(w), not log(1 + w): for tiny w the rounded 1 + w would lose Z's digits.
        T::ln_1p_in_place(ln_z);
        part(3);
        let per_block = mins.iter().zip(w.iter()).zip(ln_z.iter());
        let outputs = soft.iter_mut().zip(entropy.iter_mut());
        let data = g.chunks_exact(2).zip(cond.chunks_exact_mut(2));
        for (((&m, &w), &lz), ((sf, en), (pair, cp))) in per_block.zip(outputs.zip(data)) {
            let finite = m < T::infinity();
            let u = T::one() + w;
            let inv_z = T::one() / u;
            let p_lo = if finite { inv_z } else { T::zero() };
            let p_hi = if finite { w * inv_z } else { T::zero() };
            let (a, b) = (pair[0], pair[1]);
            let a_is_lo = a <= b;
            cp[0] = if a_is_lo { p_lo } else { p_hi };
            cp[1] = if a_is_lo { p_hi } else { p_lo };
            let hi = if a_is_lo { b } else { a };
            // p_hi = 0 exactly where hi = +inf (or underflow): contributes nothing.
            let acc = if p_hi > T::zero() {
                p_hi * (hi - m)
            } else {
                T::zero()
            };
            *sf = if finite { m - s * lz } else { T::infinity() };
            *en = if finite { lz + acc * inv_s } else { T::zero() };
        }
    }
}

/// [`gibbs_blocks`] for any layout given by `block(y)`.
fn gibbs_general<T: Real, B: Fn(usize) -> std::ops::Range<usize>>(
    g: &[T],
    block: B,
    nb: usize,
    s: T,
    out: [Out<'_, T>; 3],
) {
    let [mut cond_out, mut soft_out, mut entropy_out] = out;
    let scale = Scale::new(s);
    let mut mins: Vec<T> = Vec::with_capacity(CHUNK.min(nb));
    let mut inv_z: Vec<T> = Vec::with_capacity(CHUNK.min(nb));
    let mut ln_z: Vec<T> = Vec::with_capacity(CHUNK.min(nb));
    let mut y0 = 0;
    while y0 < nb {
        let start = block(y0).start;
        let mut y1 = y0 + 1;
        while y1 < nb && y1 - y0 < CHUNK && block(y1).end - start <= CHUNK {
            y1 += 1;
        }
        let end = block(y1 - 1).end;
        // Blocks tile the level in order, so chunk positions are `start..end`.
        let cond = cond_out.next(end - start);
        let (soft, entropy) = (soft_out.next(y1 - y0), entropy_out.next(y1 - y0));
        let local = |y: usize| {
            let r = block(y);
            r.start - start..r.end - start
        };
        let g = &g[start..end];
        mins.clear();
        inv_z.clear();
        ln_z.clear();
        for y in y0..y1 {
            let r = local(y);
            let m = block_min(&g[r.clone()]);
            mins.push(m);
            shifted_block(&g[r.clone()], m, scale, &mut cond[r]);
        }
        T::exp_in_place(cond);
        for y in y0..y1 {
            let (iz, z) = block_partition(&cond[local(y)]);
            inv_z.push(iz);
            ln_z.push(z);
        }
        T::ln_in_place(&mut ln_z);
        for y in y0..y1 {
            let r = local(y);
            let j = y - y0;
            (soft[j], entropy[j]) = finish_block(
                &g[r.clone()],
                mins[j],
                inv_z[j],
                ln_z[j],
                scale,
                &mut cond[r],
            );
        }
        y0 = y1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::{entropy_term, gibbs_into, soft_min};

    /// Every kernel of `gibbs_blocks` (blocks of 2, 4, 3 and uneven offsets) against
    /// `soft_min` and `gibbs_into` block by block, with `+inf` entries and all-`+inf` blocks.
    #[test]
    fn gibbs_blocks_kernels_match_blockwise_formulas() {
        let n = 2400;
        let g: Vec<f64> = (0..n)
            .map(|i| {
                let v = ((i * 7919) % 1009) as f64 * 0.013 - 3.0;
                if i % 11 == 3 || (1200..1204).contains(&i) {
                    f64::INFINITY
                } else {
                    v
                }
            })
            .collect();
        let mut g = g;
        for i in (1..n).step_by(13) {
            g[i] = g[i - 1]; // ties inside blocks
        }
        let uneven: Vec<usize> = {
            let mut o = vec![0];
            let mut i = 0;
            while i < n {
                i = (i + (i * 31 % 7)).min(n);
                o.push(i);
                if i < n {
                    i += 1;
                    *o.last_mut().unwrap() = i;
                }
            }
            o
        };
        for s in [0.7, 1e-3, 40.0, 1e-310] {
            for layout in [
                Layout::Uniform(2),
                Layout::Uniform(4),
                Layout::Uniform(3),
                Layout::Offsets(&uneven),
                Layout::Uniform(n),
            ] {
                let nb = match layout {
                    Layout::Uniform(b) => n / b,
                    Layout::Offsets(o) => o.len() - 1,
                };
                let mut cond = vec![f64::NAN; n];
                let (mut soft, mut ent) = (vec![f64::NAN; nb], vec![f64::NAN; nb]);
                gibbs_blocks(&g, layout, s, &mut cond, &mut soft, &mut ent);
                // The owned variant runs the same kernels into new vectors.
                let owned = gibbs_blocks_grow(&g, layout, nb, s, [vec![], vec![], vec![]]);
                let same = |a: &[f64], b: &[f64]| {
                    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
                };
                assert!(same(&owned.0, &cond) && same(&owned.1, &soft) && same(&owned.2, &ent));
                for y in 0..nb {
                    let r = layout.block(y);
                    let mut p = vec![0.0; r.len()];
                    gibbs_into(&g[r.clone()], s, &mut p);
                    let sm = soft_min(&g[r.clone()], s);
                    let h: f64 = p.iter().map(|&q| entropy_term(q)).sum();
                    assert!((soft[y] - sm).abs() <= 1e-13 * sm.abs().max(1.0) || soft[y] == sm);
                    assert!((ent[y] - h).abs() <= 1e-12 * h.max(1.0), "{layout:?} {y}");
                    for (a, b) in cond[r].iter().zip(&p) {
                        // exp(t) inherits the rounding of its argument t = -(g - m) / s.
                        let tol = (4.0 + b.max(1e-300).ln().abs()) * f64::EPSILON * b + 1e-300;
                        assert!((a - b).abs() <= tol, "{a} vs {b}");
                    }
                }
            }
        }
    }

    /// The kernels with dual numbers: values as with `f64`, and `d soft / ds = -entropy`
    /// (the derivative of `-s log sum exp(-g / s)` is minus the block entropy).
    #[test]
    fn gibbs_blocks_with_duals_differentiates_in_s() {
        use crate::dual::Dual;
        let n = 48;
        let gf: Vec<f64> = (0..n)
            .map(|i| match i % 7 {
                3 => f64::INFINITY,
                _ => ((i * 37) % 11) as f64 * 0.3 - 1.0,
            })
            .collect();
        let g: Vec<Dual<1>> = gf.iter().map(|&x| Dual::constant(x)).collect();
        let s = 0.8;
        for b in [2usize, 4, 3] {
            let nb = n / b;
            let mut cond = vec![Dual::constant(0.0); n];
            let mut soft = vec![Dual::constant(0.0); nb];
            let mut ent = soft.clone();
            let layout = Layout::Uniform(b);
            gibbs_blocks(
                &g,
                layout,
                Dual::variable(s, 0),
                &mut cond,
                &mut soft,
                &mut ent,
            );
            let (mut cf, mut sf, mut ef) = (vec![0.0; n], vec![0.0; nb], vec![0.0; nb]);
            gibbs_blocks(&gf, layout, s, &mut cf, &mut sf, &mut ef);
            for y in 0..nb {
                assert!((soft[y].re - sf[y]).abs() <= 1e-14 || soft[y].re == sf[y]);
                assert!((ent[y].re - ef[y]).abs() <= 1e-14);
                if sf[y].is_finite() {
                    assert!((soft[y].eps[0] + ef[y]).abs() <= 1e-13, "b = {b}, y = {y}");
                }
            }
            for (c, &f) in cond.iter().zip(&cf) {
                assert!((c.re - f).abs() <= 1e-15);
            }
        }
    }

    /// The fused top-down step against a plain loop: every child scaled by its block's
    /// coarse value, and the weighted sum to rounding (blocks of 2, 4, 3 and uneven offsets,
    /// lengths that are not multiples of the 8 lanes).
    #[test]
    fn scale_blocks_weighted_matches_a_plain_loop() {
        for nb in [0usize, 1, 7, 8, 9, 101] {
            let coarse: Vec<f64> = (0..nb).map(|y| ((y * 37) % 11) as f64 / 13.0).collect();
            let h: Vec<f64> = (0..nb).map(|y| ((y * 17) % 5) as f64 * 0.3 + 0.1).collect();
            let offsets: Vec<usize> = (0..=nb).map(|y| y * (y + 1) / 2).collect();
            for layout in [
                Layout::Uniform(2),
                Layout::Uniform(4),
                Layout::Uniform(3),
                Layout::Offsets(&offsets),
            ] {
                let n = match layout {
                    Layout::Uniform(b) => b * nb,
                    Layout::Offsets(o) => o[nb],
                };
                let cond: Vec<f64> = (0..n).map(|x| 1.0 + (x % 7) as f64 * 0.25).collect();
                let mut out = cond.clone();
                let got = scale_blocks_weighted(layout, &coarse, &h, &mut out);
                let mut want = 0.0;
                for y in 0..nb {
                    want += coarse[y] * h[y];
                    for x in layout.block(y) {
                        assert_eq!(out[x], cond[x] * coarse[y], "{layout:?} x = {x}");
                    }
                }
                assert!(
                    (got - want).abs() <= 1e-14 * want.max(1.0),
                    "{got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn pair_blocks_keep_full_accuracy_at_low_temperature() {
        // Blocks of two with a tiny Boltzmann weight w = exp(-30): Z = 1 + w, and the block
        // entropy is log1p(w) + w (30) / (1 + w), which a plain log(1 + w) gets wrong.
        let g = [0.0, 30.0, 5.0, 5.0 + 1e-9];
        let (mut cond, mut soft, mut ent) = ([0.0; 4], [0.0; 2], [0.0; 2]);
        gibbs_blocks(&g, Layout::Uniform(2), 1.0, &mut cond, &mut soft, &mut ent);
        let w = (-30.0f64).exp();
        let h = w.ln_1p() + w * 30.0 / (1.0 + w);
        assert!((ent[0] - h).abs() <= 1e-14 * h, "{} vs {h}", ent[0]);
        assert!((soft[0] + w.ln_1p()).abs() <= 1e-14 * w, "{}", soft[0]);
        let w = (-1e-9f64).exp();
        let h = w.ln_1p() + w * 1e-9 / (1.0 + w);
        assert!((ent[1] - h).abs() <= 1e-14 * h);
    }
}
