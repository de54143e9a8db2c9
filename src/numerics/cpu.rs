//! Which vector instructions the kernels use: the best the CPU has, detected once at run
//! time, or a lower level forced for the current thread (to test every kernel on one CPU).

use std::cell::Cell;

/// A family of kernels, from the portable one up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain `f64` code (whatever the compiler's baseline target vectorises).
    Scalar,
    /// x86-64 AVX2 with fused multiply-add: 4 lanes.
    Avx2,
    /// x86-64 AVX-512 (F and DQ) with AVX2 and FMA: 8 lanes.
    Avx512,
}

thread_local! {
    static FORCED: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// The best kernel family this CPU supports (checked once, then cached by `std`).
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
                return Isa::Avx512;
            }
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// Every kernel family this CPU can run, portable first.
pub fn available() -> Vec<Isa> {
    let best = detected();
    [Isa::Scalar, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|&i| i <= best)
        .collect()
}

/// The kernel family used on this thread: [`detected`], or what [`with_isa`] forces.
#[inline]
pub fn active() -> Isa {
    FORCED.with(Cell::get).unwrap_or_else(detected)
}

/// Runs `f` with the kernels of this thread limited to `isa` (at most [`detected`]), then
/// restores the previous choice. Results differ between families only by rounding.
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    let isa = isa.min(detected());
    let previous = FORCED.with(|c| c.replace(Some(isa)));
    struct Restore(Option<Isa>);
    impl Drop for Restore {
        fn drop(&mut self) {
            FORCED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(previous);
    f()
}
