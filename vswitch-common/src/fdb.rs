//! The forwarding database: MAC address and VLAN to port, with learning and ageing.

use crate::mac::MacAddr;

/// Entry flag: configured by the operator; never aged, never moved by learning.
pub const FDB_F_STATIC: u32 = 1 << 0;

/// Learned entries are rewritten at most this often while their port stays the same, so that
/// steady traffic does not write the map on every frame.
pub const REFRESH_NS: u64 = 1_000_000_000;

/// Key of the `FDB` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FdbKey {
    /// The station's address.
    pub mac: MacAddr,
    /// The VLAN it was seen in.
    pub vlan: u16,
}

/// Value of the `FDB` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// Ifindex of the port behind which the station is.
    pub ifindex: u32,
    /// `FDB_F_*` flags.
    pub flags: u32,
    /// `bpf_ktime_get_ns` when a frame from the station was last learned from.
    pub last_seen_ns: u64,
}

impl FdbEntry {
    /// An entry learned on `ifindex` at `now_ns`.
    #[inline(always)]
    pub const fn learned(ifindex: u32, now_ns: u64) -> Self {
        Self {
            ifindex,
            flags: 0,
            last_seen_ns: now_ns,
        }
    }

    /// A static entry on `ifindex`.
    pub const fn fixed(ifindex: u32) -> Self {
        Self {
            ifindex,
            flags: FDB_F_STATIC,
            last_seen_ns: 0,
        }
    }

    /// Whether the entry is static.
    #[inline(always)]
    pub const fn is_static(&self) -> bool {
        self.flags & FDB_F_STATIC != 0
    }

    /// Nanoseconds since the entry was last refreshed, at time `now_ns`.
    #[inline(always)]
    pub const fn age_ns(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.last_seen_ns)
    }

    /// Whether the entry still holds at `now_ns`: static, or refreshed within `ageing_ns`.
    #[inline(always)]
    pub const fn is_live(&self, now_ns: u64, ageing_ns: u64) -> bool {
        self.is_static() || self.age_ns(now_ns) <= ageing_ns
    }
}

/// What learning from a received frame does to the FDB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learning {
    /// Nothing to write.
    Unchanged,
    /// A new station, or one that moved port or had aged out: write the entry and count it.
    Learned(FdbEntry),
    /// The same port seen again: refresh the timestamp.
    Refreshed(FdbEntry),
}

/// Decides how a frame from a source address received on `ifindex` updates its entry.
#[inline(always)]
pub fn learn(existing: Option<&FdbEntry>, ifindex: u32, now_ns: u64, ageing_ns: u64) -> Learning {
    let fresh = FdbEntry::learned(ifindex, now_ns);
    match existing {
        Some(entry) if entry.is_static() => Learning::Unchanged,
        Some(entry) if entry.ifindex == ifindex && entry.is_live(now_ns, ageing_ns) => {
            if entry.age_ns(now_ns) >= REFRESH_NS {
                Learning::Refreshed(fresh)
            } else {
                Learning::Unchanged
            }
        }
        _ => Learning::Learned(fresh),
    }
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with no padding (6 + 2 bytes).
unsafe impl aya::Pod for FdbKey {}
#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with no padding.
unsafe impl aya::Pod for FdbEntry {}

#[cfg(test)]
mod tests {
    use super::*;

    const AGEING: u64 = 300 * 1_000_000_000;

    #[test]
    fn new_station_is_learned() {
        assert_eq!(
            learn(None, 7, 5, AGEING),
            Learning::Learned(FdbEntry::learned(7, 5))
        );
    }

    #[test]
    fn same_port_refreshes_only_after_the_refresh_interval() {
        let old = FdbEntry::learned(7, 1_000);
        assert_eq!(learn(Some(&old), 7, 2_000, AGEING), Learning::Unchanged);
        let later = 1_000 + REFRESH_NS;
        assert_eq!(
            learn(Some(&old), 7, later, AGEING),
            Learning::Refreshed(FdbEntry::learned(7, later))
        );
    }

    #[test]
    fn moved_station_is_relearned() {
        let old = FdbEntry::learned(7, 1_000);
        assert_eq!(
            learn(Some(&old), 8, 2_000, AGEING),
            Learning::Learned(FdbEntry::learned(8, 2_000))
        );
    }

    #[test]
    fn aged_entry_is_learned_again() {
        let old = FdbEntry::learned(7, 0);
        assert_eq!(
            learn(Some(&old), 7, AGEING + 1, AGEING),
            Learning::Learned(FdbEntry::learned(7, AGEING + 1))
        );
    }

    #[test]
    fn static_entry_is_never_moved_or_aged() {
        let pinned = FdbEntry::fixed(7);
        assert_eq!(
            learn(Some(&pinned), 8, 2 * AGEING, AGEING),
            Learning::Unchanged
        );
        assert!(pinned.is_live(u64::MAX, AGEING));
    }
}
