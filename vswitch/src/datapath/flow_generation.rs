//! The controller's side of the flow cache's generation (see `vswitch_common::flow_cache`):
//! after each write that can change a known-unicast decision (ports, FDB, switch settings), it
//! adds one to the generation, which sends every CPU's next frame of each flow down the full
//! path again.
//!
//! The word is shared with the datapath, which adds to it too when learning moves a station, so
//! both sides use atomic adds: the controller's through a shared memory mapping of the
//! `BPF_F_MMAPABLE` array, which also spares it a syscall per write.

use std::{
    io,
    os::fd::{AsFd as _, AsRawFd as _},
    ptr::NonNull,
    sync::atomic::{AtomicU64, Ordering},
};

use aya::maps::{Map, MapError};

use super::DatapathError;

/// The generation word of `FLOW_GENERATION`, mapped into this process.
#[derive(Debug)]
pub struct FlowGeneration {
    word: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the mapping is shared memory that this process only touches with atomic operations.
unsafe impl Send for FlowGeneration {}
// SAFETY: as above.
unsafe impl Sync for FlowGeneration {}

impl FlowGeneration {
    /// Maps the generation of `map` (the `FLOW_GENERATION` array) into this process.
    pub fn map(map: &Map) -> Result<Self, DatapathError> {
        let failed = DatapathError::map("mapping the flow cache's generation");
        let Map::Array(data) = map else {
            return Err(failed(MapError::IoError(io::Error::other(
                "FLOW_GENERATION is not an array",
            ))));
        };
        // SAFETY: a plain query.
        let len = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let fd = data.fd().as_fd().as_raw_fd();
        // SAFETY: a fresh shared mapping of the map's first page, which holds the word; the
        // kernel refuses it unless the map is mmapable and at least that large.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(failed(MapError::IoError(io::Error::last_os_error())));
        }
        let word = NonNull::new(address.cast::<AtomicU64>()).ok_or_else(|| {
            failed(MapError::IoError(io::Error::other(
                "mmap returned a null mapping",
            )))
        })?;
        Ok(Self { word, len })
    }

    /// Adds one, after a write that may change a cached decision.
    pub fn bump(&self) {
        // SAFETY: the mapping lives as long as `self`; the word is page-aligned.
        unsafe { self.word.as_ref() }.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for FlowGeneration {
    fn drop(&mut self) {
        // SAFETY: the mapping this value made, unmapped once.
        unsafe { libc::munmap(self.word.as_ptr().cast(), self.len) };
    }
}
