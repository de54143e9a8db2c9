//! How the blocks of a coarse level sit on the finer level, as the kernels see them.

use std::ops::Range;

/// How the blocks of one coarse level are laid out over the finer level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout<'a> {
    /// Every block has `b` consecutive children: block `y` is `b*y..b*(y+1)`.
    Uniform(usize),
    /// Block `y` is `offsets[y] - offsets[0]..offsets[y + 1] - offsets[0]`: positions are
    /// counted from the first block's start, so a window `&offsets[a..=b]` of a level's
    /// offsets describes blocks `a..b` over their own children (for a whole level
    /// `offsets[0] = 0`).
    Offsets(&'a [usize]),
}

impl Layout<'_> {
    /// Block `y` as a range of block-ordered positions on the finer level.
    #[inline]
    pub fn block(&self, y: usize) -> Range<usize> {
        match *self {
            Layout::Uniform(b) => b * y..b * (y + 1),
            Layout::Offsets(o) => o[y] - o[0]..o[y + 1] - o[0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_from_the_first_block() {
        let offsets = [0, 2, 5, 5, 6];
        assert_eq!(Layout::Offsets(&offsets).block(1), 2..5);
        assert_eq!(Layout::Offsets(&offsets[1..]).block(0), 0..3); // a window: blocks 1..4
        assert_eq!(Layout::Offsets(&offsets[1..]).block(1), 3..3); // an empty block
        assert_eq!(Layout::Uniform(3).block(2), 6..9);
    }
}
