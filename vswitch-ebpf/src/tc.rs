//! The TCX path: frames as socket buffers, redirected without losing GSO or checksum state.

use aya_ebpf::{
    bindings::{TC_ACT_REDIRECT, TC_ACT_SHOT},
    helpers::{bpf_redirect, bpf_redirect_peer, bpf_skb_vlan_pop, bpf_skb_vlan_push},
    programs::TcContext,
};
use vswitch_common::{
    MAX_FLOOD_PORTS, bounded,
    forward::Verdict,
    frame,
    port::{Egress, PORT_F_REDIRECT_PEER},
    stats::DropReason,
    vlan::{ETH_P_8021Q, VID_MASK},
};

use crate::{
    counters,
    frame::SkbFrame,
    maps::{FLOOD, PORTS},
    pipeline::{self, Decision},
};

/// Switches one frame received on a port.
#[inline(always)]
pub fn ingress(ctx: &TcContext) -> i32 {
    // SAFETY: `skb` is the program's context pointer.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let Ok(decision) = pipeline::ingress(ctx, &SkbFrame(ctx), ifindex, u64::from(ctx.len())) else {
        return TC_ACT_SHOT;
    };
    match decision.verdict {
        Verdict::Forward { ifindex: out } => forward(ctx, &decision, out),
        _ => flood(ctx, &decision, ifindex),
    }
}

#[inline(always)]
fn forward(ctx: &TcContext, decision: &Decision, out: u32) -> i32 {
    let slot = decision.port.slot;
    // SAFETY: see `pipeline::ingress`.
    let Some(target) = (unsafe { PORTS.get(&out) }) else {
        counters::dropped(slot, DropReason::NotAPort);
        return TC_ACT_SHOT;
    };
    if let Err(reason) = set_tag(ctx, target.egress(decision.vlan), decision.vlan) {
        counters::dropped(slot, reason);
        return TC_ACT_SHOT;
    }
    let len = u64::from(ctx.len());
    // SAFETY: plain helper calls on an ifindex.
    let action = unsafe {
        if target.has(PORT_F_REDIRECT_PEER) {
            bpf_redirect_peer(out, 0)
        } else {
            bpf_redirect(out, 0)
        }
    };
    if action != i64::from(TC_ACT_REDIRECT) {
        counters::dropped(slot, DropReason::HelperFailed);
        return TC_ACT_SHOT;
    }
    if let Some(stats) = counters::of(slot) {
        stats.forwarded += 1;
    }
    counters::transmitted(target.slot, len);
    TC_ACT_REDIRECT
}

/// Sends a clone to every other port of the frame's VLAN, then drops the original.
#[inline(always)]
fn flood(ctx: &TcContext, decision: &Decision, ingress_ifindex: u32) -> i32 {
    if let Some(stats) = counters::of(decision.port.slot) {
        stats.flooded += 1;
    }
    // SAFETY: replaced whole under the controller's barrier discipline (see `maps::FLOOD`).
    let Some(set) = (unsafe { FLOOD.get(&u32::from(decision.vlan)) }) else {
        return TC_ACT_SHOT;
    };
    for index in 0..MAX_FLOOD_PORTS {
        if index as u32 >= set.len {
            break;
        }
        let Some(&out) = bounded::get(&set.ifindex, index) else {
            break;
        };
        if out == ingress_ifindex {
            continue;
        }
        // SAFETY: see `pipeline::ingress`.
        let Some(target) = (unsafe { PORTS.get(&out) }) else {
            continue;
        };
        if set_tag(ctx, target.egress(decision.vlan), decision.vlan).is_ok()
            && ctx.clone_redirect(out, 0).is_ok()
        {
            counters::transmitted(target.slot, u64::from(ctx.len()));
        }
    }
    TC_ACT_SHOT
}

/// Makes the frame carry the outer tag that `egress` asks for.
#[inline(always)]
fn set_tag(ctx: &TcContext, egress: Egress, vlan: u16) -> Result<(), DropReason> {
    let current = frame::outer_tag(&SkbFrame(ctx))
        .map_err(|_| DropReason::TruncatedTag)?
        .tci();
    let skb = ctx.skb.skb;
    // SAFETY: plain helper calls on the program's own skb.
    let ok = unsafe {
        match (egress, current) {
            (Egress::NotMember, _) => return Err(DropReason::VlanEgress),
            (Egress::Untagged, None) => true,
            (Egress::Untagged, Some(_)) => bpf_skb_vlan_pop(skb) == 0,
            (Egress::Tagged, Some(tci)) if tci & VID_MASK == vlan => true,
            (Egress::Tagged, current) => {
                (current.is_none() || bpf_skb_vlan_pop(skb) == 0)
                    && bpf_skb_vlan_push(skb, ETH_P_8021Q.to_be(), vlan) == 0
            }
        }
    };
    if ok {
        Ok(())
    } else {
        Err(DropReason::HelperFailed)
    }
}
