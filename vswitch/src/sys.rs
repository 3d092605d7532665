//! The one place that calls `bpf(2)` directly, for the commands aya 0.14 does not expose
//! (the barrier's map-of-maps update, batched updates, device-bound loading); the command
//! numbers are the kernel's `enum bpf_cmd` from aya-obj's bindings.

use std::io;

pub use aya_obj::generated::bpf_cmd;

/// Issues `bpf(cmd, attr, sizeof(*attr))`; returns what the call returned.
///
/// # Safety
/// `attr` must be the `union bpf_attr` member that `cmd` reads, and every pointer in it must
/// be valid for what the kernel reads or writes through it during the call.
pub unsafe fn bpf<T>(cmd: bpf_cmd, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller's contract; the size is `T`'s, so the kernel reads no further.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            std::ptr::from_mut(attr),
            size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
