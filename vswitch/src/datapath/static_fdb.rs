//! Installing many static FDB entries at once, with `BPF_MAP_UPDATE_BATCH`.
//!
//! aya 0.14 has no batched map operations, so this issues the syscall itself on the FDB map's
//! descriptor.

use std::os::fd::{AsFd as _, AsRawFd as _};

use aya::{
    maps::{IterableMap as _, MapError},
    sys::SyscallError,
};
use vswitch_common::fdb::{FdbEntry, FdbKey, Location};

use super::{DatapathError, Maps};
use crate::sys::{self, bpf_cmd};
/// Entries per syscall: bounds the kernel's copy of keys and values.
const CHUNK: usize = 16_384;

/// The `batch` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

impl Maps {
    /// Adds or replaces static FDB entries, `(station, VLAN) → ifindex`, in batches of
    /// `BPF_MAP_UPDATE_BATCH`. Static entries are never aged nor moved by learning.
    pub fn add_static_fdb(&mut self, entries: &[(FdbKey, u32)]) -> Result<(), DatapathError> {
        let fd = self.fdb.map().fd().as_fd().as_raw_fd() as u32;
        for chunk in entries.chunks(CHUNK) {
            let keys: Vec<FdbKey> = chunk.iter().map(|(key, _)| *key).collect();
            let values: Vec<FdbEntry> = chunk
                .iter()
                .map(|(_, ifindex)| FdbEntry::fixed(Location::port(*ifindex)))
                .collect();
            let mut attr = BatchAttr {
                keys: keys.as_ptr() as u64,
                values: values.as_ptr() as u64,
                count: chunk.len() as u32,
                map_fd: fd,
                ..BatchAttr::default()
            };
            // SAFETY: `attr` points at `count` keys and values of the map's key and value sizes,
            // which outlive the call; the kernel writes back only `count`.
            if let Err(io_error) = unsafe { sys::bpf(bpf_cmd::BPF_MAP_UPDATE_BATCH, &mut attr) } {
                let source = MapError::SyscallError(SyscallError {
                    call: "bpf_map_update_batch",
                    io_error,
                });
                return Err(DatapathError::map(format!(
                    "adding {} static FDB entries",
                    entries.len()
                ))(source));
            }
            self.flow_generation.bump();
        }
        Ok(())
    }
}
