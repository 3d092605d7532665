//! How many learned FDB entries each port holds, against its `max_macs`.
//!
//! The count is kept by two writers that never write the same word, so nothing is lost to a
//! race: the datapath adds to [`MacCount`] with atomic adds when it learns an entry for a port or
//! moves one away from it, and the agent adds to its own `MAC_FORGOTTEN` word of the port when
//! it deletes one of the port's learned entries (ageing, `fdb del`, port removal). Each learned
//! entry carries the slot of the port that counts it ([`crate::fdb::FdbEntry::slot`]). The same
//! pair of counts at [`TOTAL_SLOT`] holds every port's learned entries together, against
//! `[switch] max_macs`.

use crate::fdb::FdbEntry;

/// The slot of no port: what static entries, and entries no port counted, carry.
pub const NO_SLOT: u32 = 0;

/// Where the switch-wide count of learned entries (against `[switch] max_macs`) is kept: slot 0,
/// which no port has (its counters are those of frames from interfaces that are not ports).
pub const TOTAL_SLOT: u32 = 0;

/// What learning a station for a port does to the ports' counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accounting {
    /// The port counts the station's entry already (it aged out there, or moved between VTEPs
    /// of the port's tunnel): rewrite it, no count changes.
    Held,
    /// A new entry: it takes a place in the port's budget.
    New,
    /// The station moves from another port (the one in slot `from`, or [`NO_SLOT`] for an entry
    /// no port counted): it takes a place here and frees one there.
    Moved {
        /// The slot of the port that counted it.
        from: u32,
    },
}

impl Accounting {
    /// Whether the entry takes a place in the switch-wide count: a new one, or one that no
    /// port counted yet. A move between ports does not.
    #[inline(always)]
    pub const fn takes_switch_place(self) -> bool {
        matches!(self, Self::New | Self::Moved { from: NO_SLOT })
    }
}

/// How learning a station whose entry is `existing` for the port in `slot` is counted.
#[inline(always)]
pub fn accounting(existing: Option<&FdbEntry>, slot: u32) -> Accounting {
    match existing {
        Some(entry) if entry.slot() == slot => Accounting::Held,
        Some(entry) => Accounting::Moved { from: entry.slot() },
        None => Accounting::New,
    }
}

/// The datapath's half of a port's count, at the port's counter slot in `MAC_COUNTS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MacCount {
    /// Entries learned for the port, or moved to it.
    pub learned: u64,
    /// Entries of the port moved to another port.
    pub moved_away: u64,
}

impl MacCount {
    /// Learned entries the port holds, given how many of them the agent deleted.
    #[inline(always)]
    pub const fn held(&self, forgotten: u64) -> u64 {
        self.learned
            .saturating_sub(self.moved_away.saturating_add(forgotten))
    }
}

/// Whether a port whose limit is `max_macs` (0: none) and which holds `held` learned entries
/// may learn one more.
///
/// Two CPUs learning at once may both pass the check: a port can exceed its limit by at most the
/// number of CPUs minus one.
#[inline(always)]
pub const fn may_learn(max_macs: u32, held: u64) -> bool {
    max_macs == 0 || held < max_macs as u64
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with no padding.
unsafe impl aya::Pod for MacCount {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_is_learned_minus_what_went_away() {
        let count = MacCount {
            learned: 10,
            moved_away: 3,
        };
        assert_eq!(count.held(2), 5);
        assert_eq!(count.held(20), 0, "never below zero");
    }

    #[test]
    fn learning_is_counted_for_the_port_that_learns() {
        use crate::fdb::Location;
        let on_3 = FdbEntry::learned(Location::port(9), 0).counted_in(3);
        assert_eq!(accounting(Some(&on_3), 3), Accounting::Held);
        assert_eq!(accounting(Some(&on_3), 4), Accounting::Moved { from: 3 });
        let uncounted = FdbEntry::learned(Location::port(9), 0);
        assert_eq!(
            accounting(Some(&uncounted), 4),
            Accounting::Moved { from: NO_SLOT }
        );
        assert_eq!(accounting(None, 4), Accounting::New);
        assert!(Accounting::New.takes_switch_place());
        assert!(Accounting::Moved { from: NO_SLOT }.takes_switch_place());
        assert!(!Accounting::Moved { from: 3 }.takes_switch_place());
        assert!(!Accounting::Held.takes_switch_place());
    }

    #[test]
    fn learning_stops_at_the_limit_and_zero_means_none() {
        assert!(may_learn(2, 1));
        assert!(!may_learn(2, 2));
        assert!(!may_learn(2, 3));
        assert!(may_learn(0, u64::MAX));
    }
}
