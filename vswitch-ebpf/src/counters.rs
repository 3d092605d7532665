//! Per-CPU port counters.

use vswitch_common::{
    bounded,
    stats::{DropReason, PortStats},
};

use crate::maps::PORT_STATS;

/// The slot that counts frames seen on interfaces that are not ports of the switch.
pub const NOT_A_PORT_SLOT: u32 = 0;

/// This CPU's counters of the port in `slot`.
#[inline(always)]
pub fn of(slot: u32) -> Option<&'static mut PortStats> {
    // SAFETY: per-CPU values are only touched by this CPU, and programs do not nest.
    PORT_STATS
        .get_ptr_mut(slot)
        .map(|stats| unsafe { &mut *stats })
}

/// Counts a received frame of `len` bytes.
#[inline(always)]
pub fn received(slot: u32, len: u64) {
    if let Some(stats) = of(slot) {
        stats.rx_packets += 1;
        stats.rx_bytes += len;
    }
}

/// Counts a frame of `len` bytes sent to a port.
#[inline(always)]
pub fn transmitted(slot: u32, len: u64) {
    if let Some(stats) = of(slot) {
        stats.tx_packets += 1;
        stats.tx_bytes += len;
    }
}

/// Counts a dropped frame.
#[inline(always)]
pub fn dropped(slot: u32, reason: DropReason) {
    if let Some(counter) =
        of(slot).and_then(|stats| bounded::get_mut(&mut stats.drops, reason as usize))
    {
        *counter += 1;
    }
}

/// Counts a flood copy that did not leave through one port, for the ingress port in `slot`:
/// a helper failure is a drop, while a port outside the frame's VLAN is simply not part of the
/// flood (see `vswitch_common::egress::decide`).
#[inline(always)]
pub fn flood_skipped(slot: u32, reason: DropReason) {
    if matches!(reason, DropReason::HelperFailed) {
        dropped(slot, reason);
    }
}
