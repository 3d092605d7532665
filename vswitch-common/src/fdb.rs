//! The forwarding database: MAC address and VLAN to port, with learning and ageing.

use crate::{
    mac::MacAddr,
    vxlan::{NO_VTEP, Vtep},
};

/// Entry flag: configured by the operator; never aged, never moved by learning.
pub const FDB_F_STATIC: u32 = 1 << 0;
/// Entry flag: the station is behind a remote VTEP (`remote`), reached through the tunnel of
/// its VLAN; `ifindex` is then the tunnel's underlay.
pub const FDB_F_REMOTE: u32 = 1 << 1;
/// Learned entries keep the counter slot of the port that learned them in the flags' upper
/// half, from this bit: the port whose `max_macs` budget the entry takes (see [`crate::budget`]).
/// Zero (the slot of no port) for static entries.
pub const FDB_SLOT_SHIFT: u32 = 16;

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

/// Where a station is: behind a local port, or behind a remote VTEP through a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// The port's ifindex; for a remote station, the tunnel's underlay.
    pub ifindex: u32,
    /// The remote VTEP, or [`NO_VTEP`] for a local port.
    pub remote: Vtep,
}

impl Location {
    /// Behind the local port `ifindex`.
    #[inline(always)]
    pub const fn port(ifindex: u32) -> Self {
        Self {
            ifindex,
            remote: NO_VTEP,
        }
    }
}

/// Value of the `FDB` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdbEntry {
    /// Ifindex of the port behind which the station is (the underlay for a remote station).
    pub ifindex: u32,
    /// `FDB_F_*` flags.
    pub flags: u32,
    /// `bpf_ktime_get_coarse_ns` (`CLOCK_MONOTONIC_COARSE`) when a frame from the station was
    /// last learned from.
    pub last_seen_ns: u64,
    /// The remote VTEP of a remote station ([`FDB_F_REMOTE`]); [`NO_VTEP`] otherwise.
    pub remote: Vtep,
}

impl FdbEntry {
    /// An entry learned at `location` at `now_ns`.
    #[inline(always)]
    pub const fn learned(location: Location, now_ns: u64) -> Self {
        Self {
            ifindex: location.ifindex,
            flags: Self::location_flags(&location),
            last_seen_ns: now_ns,
            remote: location.remote,
        }
    }

    /// The same entry, counted in the budget of the port in counter slot `slot`.
    #[inline(always)]
    pub const fn counted_in(mut self, slot: u32) -> Self {
        self.flags = (self.flags & ((1 << FDB_SLOT_SHIFT) - 1)) | (slot << FDB_SLOT_SHIFT);
        self
    }

    /// The counter slot of the port whose budget this entry takes; 0 for none.
    #[inline(always)]
    pub const fn slot(&self) -> u32 {
        self.flags >> FDB_SLOT_SHIFT
    }

    /// A static entry at `location`.
    pub const fn fixed(location: Location) -> Self {
        Self {
            ifindex: location.ifindex,
            flags: FDB_F_STATIC | Self::location_flags(&location),
            last_seen_ns: 0,
            remote: location.remote,
        }
    }

    const fn location_flags(location: &Location) -> u32 {
        let mut remote = false;
        let mut index = 0;
        while index < location.remote.len() {
            remote |= location.remote[index] != 0;
            index += 1;
        }
        if remote { FDB_F_REMOTE } else { 0 }
    }

    /// Where the station is.
    #[inline(always)]
    pub const fn location(&self) -> Location {
        Location {
            ifindex: self.ifindex,
            remote: self.remote,
        }
    }

    /// Whether the station is behind a remote VTEP.
    #[inline(always)]
    pub const fn is_remote(&self) -> bool {
        self.flags & FDB_F_REMOTE != 0
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

/// Decides how a frame from a source address received at `location` updates its entry.
#[inline(always)]
pub fn learn(
    existing: Option<&FdbEntry>,
    location: Location,
    now_ns: u64,
    ageing_ns: u64,
) -> Learning {
    let fresh = FdbEntry::learned(location, now_ns);
    match existing {
        Some(entry) if entry.is_static() => Learning::Unchanged,
        Some(entry) if entry.location() == location && entry.is_live(now_ns, ageing_ns) => {
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
// SAFETY: `repr(C)` integers and a byte array with no padding (4 + 4 + 8 + 16 bytes).
unsafe impl aya::Pod for FdbEntry {}

#[cfg(test)]
mod tests {
    use super::*;

    const AGEING: u64 = 300 * 1_000_000_000;

    #[test]
    fn new_station_is_learned() {
        assert_eq!(
            learn(None, Location::port(7), 5, AGEING),
            Learning::Learned(FdbEntry::learned(Location::port(7), 5))
        );
    }

    #[test]
    fn same_port_refreshes_only_after_the_refresh_interval() {
        let old = FdbEntry::learned(Location::port(7), 1_000);
        assert_eq!(
            learn(Some(&old), Location::port(7), 2_000, AGEING),
            Learning::Unchanged
        );
        let later = 1_000 + REFRESH_NS;
        assert_eq!(
            learn(Some(&old), Location::port(7), later, AGEING),
            Learning::Refreshed(FdbEntry::learned(Location::port(7), later))
        );
    }

    #[test]
    fn moved_station_is_relearned() {
        let old = FdbEntry::learned(Location::port(7), 1_000);
        assert_eq!(
            learn(Some(&old), Location::port(8), 2_000, AGEING),
            Learning::Learned(FdbEntry::learned(Location::port(8), 2_000))
        );
    }

    #[test]
    fn aged_entry_is_learned_again() {
        let old = FdbEntry::learned(Location::port(7), 0);
        assert_eq!(
            learn(Some(&old), Location::port(7), AGEING + 1, AGEING),
            Learning::Learned(FdbEntry::learned(Location::port(7), AGEING + 1))
        );
    }

    #[test]
    fn static_entry_is_never_moved_or_aged() {
        let pinned = FdbEntry::fixed(Location::port(7));
        assert_eq!(
            learn(Some(&pinned), Location::port(8), 2 * AGEING, AGEING),
            Learning::Unchanged
        );
        assert!(pinned.is_live(u64::MAX, AGEING));
    }

    #[test]
    fn the_counting_slot_lives_beside_the_flags() {
        let entry = FdbEntry::learned(Location::port(7), 5).counted_in(255);
        assert_eq!(entry.slot(), 255);
        assert!(!entry.is_static() && !entry.is_remote());
        assert_eq!(entry.counted_in(3).slot(), 3);
        assert_eq!(FdbEntry::fixed(Location::port(7)).slot(), 0);
    }

    #[test]
    fn a_station_moving_between_remote_vteps_is_relearned() {
        let a = Location {
            ifindex: 9,
            remote: crate::vxlan::vtep_v4([192, 0, 2, 2]),
        };
        let b = Location {
            ifindex: 9,
            remote: crate::vxlan::vtep_v4([192, 0, 2, 3]),
        };
        let old = FdbEntry::learned(a, 1_000);
        assert!(old.is_remote());
        assert_eq!(learn(Some(&old), a, 2_000, AGEING), Learning::Unchanged);
        assert_eq!(
            learn(Some(&old), b, 2_000, AGEING),
            Learning::Learned(FdbEntry::learned(b, 2_000))
        );
        assert!(!FdbEntry::learned(Location::port(9), 0).is_remote());
    }
}
