//! How the blocks of a coarse level sit on the finer level, as the kernels see them.

use std::ops::Range;

/// How the blocks of one coarse level are laid out over the finer level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout<'a> {
    /// Every block has `b` consecutive children: block `y` is `b*y..b*(y+1)`.
    Uniform(usize),
    /// Block `y` is `offsets[y]..offsets[y + 1]`.
    Offsets(&'a [usize]),
}

impl Layout<'_> {
    /// Block `y` as a range of block-ordered positions on the finer level.
    #[inline]
    pub fn block(&self, y: usize) -> Range<usize> {
        match *self {
            Layout::Uniform(b) => b * y..b * (y + 1),
            Layout::Offsets(o) => o[y]..o[y + 1],
        }
    }
}
