//! An RCU barrier for the controller's map writes: it returns once every BPF program that was
//! running when it was called has finished.
//!
//! Why the controller needs one: a program reads a hash-map value through the pointer the
//! lookup returned, while the controller may replace or delete that entry. The kernel then
//! frees the old element at once, and the map's allocator may hand it out again to the next
//! update (preallocated maps reuse it through their free list, `BPF_F_NO_PREALLOC` maps through
//! `bpf_mem_alloc`'s per-CPU caches), so a reader still holding it would see another value
//! appear under its feet. Neither flag alone makes a torn read impossible.
//!
//! The discipline that does: in maps that only the controller writes (`PORTS`, `FLOOD`), an
//! element can only be reused by a later controller write to the same map. So after any write
//! that replaced or deleted an element, the controller waits on this barrier before writing
//! that map again; every program that could still hold the freed element has finished by then
//! (XDP and tc programs run inside an RCU read-side section), and it sees either the old or the
//! new value, never a mix.
//!
//! The kernel has no "synchronize RCU" command, but an update of a map-of-maps from user space
//! waits for one grace period before returning (`maybe_wait_bpf_programs` in
//! `kernel/bpf/syscall.c`, since Linux 4.17). The barrier is such an update, on a private
//! one-slot `ARRAY_OF_MAPS` that no program reads.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use crate::sys::{self, bpf_cmd};

/// `BPF_MAP_TYPE_ARRAY`.
const BPF_MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;

/// The `map_create` member of `union bpf_attr`, up to `inner_map_fd`.
#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
}

/// The element members of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// A private map-of-maps whose updates wait for an RCU grace period.
#[derive(Debug)]
pub struct RcuBarrier {
    outer: OwnedFd,
    inner: OwnedFd,
}

impl RcuBarrier {
    /// Creates the two small maps the barrier updates.
    pub fn new() -> io::Result<Self> {
        let inner = create(MapCreateAttr {
            map_type: BPF_MAP_TYPE_ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..MapCreateAttr::default()
        })?;
        let outer = create(MapCreateAttr {
            map_type: BPF_MAP_TYPE_ARRAY_OF_MAPS,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            inner_map_fd: inner.as_raw_fd() as u32,
            ..MapCreateAttr::default()
        })?;
        Ok(Self { outer, inner })
    }

    /// Returns once every BPF program that was running at the call has finished.
    pub fn wait(&self) -> io::Result<()> {
        let key = 0u32;
        let value = self.inner.as_raw_fd() as u32;
        let mut attr = MapElemAttr {
            map_fd: self.outer.as_raw_fd() as u32,
            key: std::ptr::from_ref(&key) as u64,
            value: std::ptr::from_ref(&value) as u64,
            ..MapElemAttr::default()
        };
        // SAFETY: the element attribute with pointers to a live key and value of the map's
        // sizes.
        unsafe { sys::bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr) }.map(drop)
    }
}

fn create(mut attr: MapCreateAttr) -> io::Result<OwnedFd> {
    // SAFETY: the map-create attribute, with no pointers.
    let fd = unsafe { sys::bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr) }?;
    // SAFETY: BPF_MAP_CREATE returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
