//! ARP/ND suppression on the TCX path, as a stage of its own: `vswitch_tc` tail-calls it for a
//! frame that may be an ARP request or a neighbour solicitation (a group destination and ARP or
//! IPv6 after the addresses), so that the request and its reply never share the switching
//! program's nearly full stack. What it does not answer goes back into `vswitch_tc`, marked
//! (per CPU) as handed back, so that it is switched and not asked about again.
//!
//! A request from a local port, in a VLAN that a tunnel carries, for an address whose station
//! another host published with its IP (the `NEIGHBOURS` map, filled from the cluster's
//! records), becomes its reply and goes back out of the port; nothing crosses the underlay.

use aya_ebpf::{
    bindings::{TC_ACT_REDIRECT, TC_ACT_SHOT},
    helpers::bpf_redirect,
    programs::TcContext,
};
use vswitch_common::{
    frame::{self, ETH_HLEN, Frame as _, Tag, VLAN_HLEN},
    mac,
    stats::DropReason,
    suppression, tc_stages,
    vlan::ETH_P_8021Q,
};

use crate::{
    counters,
    frame::SkbFrame,
    maps::{NEIGHBOURS, PORTS, TC_HANDED_BACK, TC_STAGES, TUNNEL_VLANS},
    responder,
};

/// `ETH_P_ARP`.
const ETH_P_ARP: u16 = 0x0806;
/// `ETH_P_IPV6`.
const ETH_P_IPV6: u16 = 0x86dd;

/// Whether the frame may be a request the suppression stage answers: a group destination, and
/// ARP or IPv6 after the addresses or after a tag in the data. Two reads; most frames stop at
/// the first.
#[inline(always)]
pub fn candidate(ctx: &TcContext) -> bool {
    let frame = SkbFrame::<true>(ctx);
    let Some(dst) = frame.read::<6>(0) else {
        return false;
    };
    if !mac::is_group(&dst) {
        return false;
    }
    let at = match frame.read::<2>(12).map(u16::from_be_bytes) {
        Some(ETH_P_8021Q) => ETH_HLEN + VLAN_HLEN - 2,
        Some(_) => 12,
        None => return false,
    };
    matches!(
        frame.read::<2>(at).map(u16::from_be_bytes),
        Some(ETH_P_ARP | ETH_P_IPV6)
    )
}

/// The suppression stage: answers the request if it can, else hands the frame back to
/// `vswitch_tc`.
#[inline(always)]
pub fn answer_or_switch(ctx: &TcContext) -> i32 {
    if let Some(action) = answer(ctx) {
        return action;
    }
    let Some(mark) = TC_HANDED_BACK.get_ptr_mut(0) else {
        return TC_ACT_SHOT;
    };
    // SAFETY: this CPU's value; programs do not nest, and the tail call runs next.
    unsafe { *mark = 1 };
    // SAFETY: the program's own context; a failed tail call falls through.
    unsafe { TC_STAGES.tail_call(ctx, tc_stages::SWITCH) };
    // SAFETY: as above.
    unsafe { *mark = 0 };
    // The controller fills both stages before it attaches `vswitch_tc`.
    counters::dropped(counters::NOT_A_PORT_SLOT, DropReason::HelperFailed);
    TC_ACT_SHOT
}

/// Whether the frame comes back from the suppression stage; takes the mark.
#[inline(always)]
pub fn handed_back() -> bool {
    let Some(mark) = TC_HANDED_BACK.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: this CPU's value; programs do not nest.
    unsafe {
        let back = *mark != 0;
        *mark = 0;
        back
    }
}

/// The action for an answered request; `None` for a frame to switch.
#[inline(always)]
fn answer(ctx: &TcContext) -> Option<i32> {
    // SAFETY: `skb` is the program's context pointer.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
    let port = unsafe { PORTS.get(ifindex) }?;
    let frame = SkbFrame::<false>(ctx);
    let header = frame::parse(&frame).ok()?;
    let vlan = port.ingress_vlan(header.tag.tci()).ok()?;
    // SAFETY: written by the controller only, under the barrier discipline of `PORTS`.
    unsafe { TUNNEL_VLANS.get(u32::from(vlan)) }?;
    let l3 = match header.tag {
        Tag::InData(_) => ETH_HLEN + VLAN_HLEN,
        Tag::None | Tag::Accel(_) => ETH_HLEN,
    };
    let (request, answer) = suppression::answer(&frame, l3, vlan, |key| {
        // SAFETY: plain data that the controller writes whole.
        unsafe { NEIGHBOURS.get(key) }.copied()
    })?;
    let slot = port.slot;
    counters::received(slot, u64::from(ctx.len()));
    if responder::rewrite(ctx, l3, &request, &answer).is_err() {
        counters::dropped(slot, DropReason::HelperFailed);
        return Some(TC_ACT_SHOT);
    }
    // SAFETY: a plain helper call on an ifindex.
    if unsafe { bpf_redirect(ifindex, 0) } != i64::from(TC_ACT_REDIRECT) {
        counters::dropped(slot, DropReason::HelperFailed);
        return Some(TC_ACT_SHOT);
    }
    if let Some(stats) = counters::of(slot) {
        stats.answered += 1;
    }
    counters::transmitted(slot, u64::from(ctx.len()));
    Some(TC_ACT_REDIRECT)
}
