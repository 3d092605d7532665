//! The datapath's half of the per-port learned-entry count (see `vswitch_common::budget`).

use vswitch_common::budget::{self, NO_SLOT, TOTAL_SLOT};

use crate::{
    atomic::add,
    maps::{MAC_COUNTS, MAC_FORGOTTEN},
};

/// Whether the port in `slot` holds fewer than `max_macs` learned entries.
#[inline(always)]
pub fn may_learn(slot: u32, max_macs: u32) -> bool {
    let Some(count) = MAC_COUNTS.get(slot) else {
        return false;
    };
    let forgotten = MAC_FORGOTTEN.get(slot).copied().unwrap_or(0);
    budget::may_learn(max_macs, count.held(forgotten))
}

/// Counts an entry learned for the port in slot `to`, which the port in slot `from` held before
/// ([`NO_SLOT`] for a new entry, which the switch-wide count takes too).
#[inline(always)]
pub fn moved(to: u32, from: u32) {
    if let Some(count) = MAC_COUNTS.get_ptr_mut(to) {
        // SAFETY: a live, aligned element of an array map, which is never freed.
        unsafe { add(&raw mut (*count).learned) };
    }
    if from == NO_SLOT {
        if let Some(total) = MAC_COUNTS.get_ptr_mut(TOTAL_SLOT) {
            // SAFETY: as above.
            unsafe { add(&raw mut (*total).learned) };
        }
        return;
    }
    if let Some(count) = MAC_COUNTS.get_ptr_mut(from) {
        // SAFETY: as above.
        unsafe { add(&raw mut (*count).moved_away) };
    }
}
