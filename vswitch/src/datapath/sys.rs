//! The `bpf(2)` commands that aya 0.14 does not expose.

use std::io;

/// `BPF_MAP_CREATE` from `enum bpf_cmd`.
pub const BPF_MAP_CREATE: libc::c_long = 0;
/// `BPF_MAP_UPDATE_ELEM`.
pub const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
/// `BPF_MAP_UPDATE_BATCH`.
pub const BPF_MAP_UPDATE_BATCH: libc::c_long = 26;

/// Issues `bpf(cmd, attr, sizeof(*attr))`; returns what the call returned.
///
/// # Safety
/// `attr` must be the `union bpf_attr` member that `cmd` reads, and every pointer in it must
/// be valid for what the kernel reads or writes through it during the call.
pub unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller's contract; the size is `T`'s, so the kernel reads no further.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd, std::ptr::from_mut(attr), size_of::<T>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
