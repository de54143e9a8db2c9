//! Copies into memory that is written once and read much later (the marginals of a large
//! solve): non-temporal stores, which bypass the caches and skip reading the destination's
//! lines before writing them.

use super::cpu::{self, Isa};

/// `dst <- src` (equal lengths). With AVX2 (or AVX-512) the 32-byte aligned middle of `dst` is
/// written with non-temporal (streaming) stores followed by a store fence, so a large output costs
/// one write of its lines instead of a read and a write, and does not evict the caller's
/// working set; portable code copies plainly. The values are the same either way.
///
/// ```
/// let src: Vec<f64> = (0..100).map(f64::from).collect();
/// let mut dst = vec![0.0; 100];
/// hmaxent::numerics::copy_streaming(&src[3..], &mut dst[3..]);
/// assert_eq!(&dst[3..], &src[3..]);
/// ```
pub fn copy_streaming(src: &[f64], dst: &mut [f64]) {
    assert_eq!(src.len(), dst.len());
    match cpu::active() {
        // SAFETY: `active` never exceeds what the CPU supports (AVX-512 implies AVX2).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 | Isa::Avx2 => unsafe { stream_avx2(src, dst) },
        _ => dst.copy_from_slice(src),
    }
}

/// Splits `dst` at the first position whose address is a multiple of `align` bytes (or at
/// its end), copying that head plainly; returns where the aligned part starts.
#[cfg(target_arch = "x86_64")]
fn copy_head(src: &[f64], dst: &mut [f64], align: usize) -> usize {
    let head = dst.as_ptr().align_offset(align).min(dst.len());
    dst[..head].copy_from_slice(&src[..head]);
    head
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn stream_avx2(src: &[f64], dst: &mut [f64]) {
    use std::arch::x86_64::{_mm256_loadu_pd, _mm256_stream_pd, _mm_sfence};
    let head = copy_head(src, dst, 32);
    let (src, dst) = (&src[head..], &mut dst[head..]);
    let body = dst.len() / 4 * 4;
    for i in (0..body).step_by(4) {
        // SAFETY: `i + 4 <= body <= len` for both slices, and `dst[i..]` is 32-byte
        // aligned (the head was copied up to such an address, and steps are 32 bytes).
        unsafe {
            _mm256_stream_pd(
                dst.as_mut_ptr().add(i),
                _mm256_loadu_pd(src.as_ptr().add(i)),
            )
        };
    }
    dst[body..].copy_from_slice(&src[body..]);
    _mm_sfence();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel family, every alignment and length around the vector widths.
    #[test]
    fn streaming_copy_equals_a_plain_copy_for_every_kernel() {
        let src: Vec<f64> = (0..300).map(|i| (i as f64).sin()).collect();
        for isa in cpu::available() {
            for start in 0..9 {
                for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200] {
                    let mut dst = vec![f64::NAN; 300];
                    let r = start..start + len;
                    cpu::with_isa(isa, || copy_streaming(&src[r.clone()], &mut dst[r.clone()]));
                    assert_eq!(&dst[r.clone()], &src[r.clone()], "{isa:?} {start} {len}");
                    assert!(dst[..start].iter().chain(&dst[r.end..]).all(|x| x.is_nan()));
                }
            }
        }
    }
}
