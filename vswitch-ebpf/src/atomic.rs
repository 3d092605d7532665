//! Atomic adds on map values shared by every CPU.

/// Adds one to the word at `word` with the BPF atomic add (`lock *(u64 *)`), whose result is
/// unused so that it needs no `BPF_FETCH` (kernel 5.12): `core`'s atomic types offer no
/// read-modify-write on this target, which has no compare-and-swap in its base instruction set.
///
/// # Safety
/// `word` points to a live, aligned `u64` in a map value.
#[cfg(target_arch = "bpf")]
#[inline(always)]
pub unsafe fn add(word: *mut u64) {
    use core::intrinsics::{AtomicOrdering, atomic_xadd};
    // SAFETY: as the caller promises.
    let _ = unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(word, 1) };
}

/// The same with `core`'s atomics, for host builds of the crate (clippy), which never run.
///
/// # Safety
/// `word` points to a live, aligned `u64`.
#[cfg(not(target_arch = "bpf"))]
#[inline(always)]
pub unsafe fn add(word: *mut u64) {
    // SAFETY: as the caller promises.
    unsafe { core::sync::atomic::AtomicU64::from_ptr(word) }
        .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
}
