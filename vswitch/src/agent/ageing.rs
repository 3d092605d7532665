//! Removing learned FDB entries that outlived the ageing time.

use vswitch_common::fdb::FdbEntry;

use crate::datapath::{DatapathError, Maps};

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of the datapath's timestamps, which read its coarse
/// form (`bpf_ktime_get_coarse_ns`, at most a tick behind).
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer for a clock every Linux has.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Whether `entry` is past its lifetime at `now_ns`.
pub fn expired(entry: &FdbEntry, now_ns: u64, ageing_ns: u64) -> bool {
    !entry.is_live(now_ns, ageing_ns)
}

/// Deletes every expired entry; returns how many went.
pub fn sweep(maps: &mut Maps, ageing_ns: u64) -> Result<usize, DatapathError> {
    let now_ns = monotonic_ns();
    let expired: Vec<_> = maps
        .fdb_entries()?
        .into_iter()
        .filter(|(_, entry)| expired(entry, now_ns, ageing_ns))
        .collect();
    for (key, _) in &expired {
        maps.remove_fdb(key)?;
    }
    Ok(expired.len())
}
