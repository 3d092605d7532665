//! The TCX path: frames as socket buffers, redirected without losing GSO or checksum state.

use aya_ebpf::{
    bindings::{TC_ACT_REDIRECT, TC_ACT_SHOT},
    helpers::{bpf_redirect, bpf_redirect_peer, bpf_skb_vlan_pop, bpf_skb_vlan_push},
    programs::TcContext,
};
use vswitch_common::{
    MAX_FLOOD_PORTS, bounded,
    egress::{self, TagFailed, Tagger},
    frame::{self, ETH_HLEN, Frame as _, Tag},
    port::{FloodSet, PORT_F_REDIRECT_PEER},
    stats::DropReason,
    tc_stages,
    vlan::ETH_P_8021Q,
};

use crate::{
    counters,
    frame::SkbFrame,
    maps::{FLOOD, PORTS, TC_STAGES},
    pipeline::{self, Decision, Route},
    suppress, tunnel,
};

/// Switches one frame received on a port; a frame that may be an ARP request or neighbour
/// solicitation goes to the suppression stage first, which hands on what it does not answer.
#[inline(always)]
pub fn ingress(ctx: &TcContext) -> i32 {
    if suppress::candidate(ctx) && !suppress::handed_back() {
        // SAFETY: the program's own context; a failed tail call falls through.
        unsafe { TC_STAGES.tail_call(ctx, tc_stages::SUPPRESS) };
    }
    // SAFETY: `skb` is the program's context pointer.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let Ok(decision) = pipeline::ingress(
        ctx,
        &SkbFrame::<true>(ctx),
        ifindex,
        u64::from(ctx.len()),
        pipeline::now_ns(),
    ) else {
        return TC_ACT_SHOT;
    };
    switch(ctx, &decision, ifindex)
}

/// Carries out the decision on a frame that came in on `ingress_ifindex` (a port, or the
/// underlay of the tunnel it was decapsulated from).
#[inline(always)]
pub fn switch(ctx: &TcContext, decision: &Decision, ingress_ifindex: u32) -> i32 {
    match decision.route {
        Route::Forward { ifindex: out } => forward(ctx, decision, out),
        Route::Tunnel { remote } if !decision.from_overlay => {
            tunnel::unicast(ctx, decision, remote)
        }
        // Split horizon: `forward::decide` already refuses this as a hairpin.
        Route::Tunnel { .. } => {
            counters::dropped(decision.port.slot, DropReason::Hairpin);
            TC_ACT_SHOT
        }
        Route::Flood { arrival: _ } => flood(ctx, decision, ingress_ifindex),
    }
}

#[inline(always)]
fn forward(ctx: &TcContext, decision: &Decision, out: u32) -> i32 {
    let slot = decision.port.slot;
    // SAFETY: see `pipeline::ingress`.
    let target = unsafe { PORTS.get(out) };
    let priority = decision.priority;
    let target = match egress::prepare(&mut SkbFrame::<true>(ctx), target, decision.vlan, priority)
    {
        Ok(target) => target,
        Err(reason) => {
            counters::dropped(slot, reason);
            return TC_ACT_SHOT;
        }
    };
    let len = u64::from(ctx.len());
    // SAFETY: plain helper calls on an ifindex.
    let action = unsafe {
        if target.has(PORT_F_REDIRECT_PEER) && decision.protocol_set {
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

/// Sends a clone to every other port of the frame's VLAN, and unless it came from the overlay
/// to every remote VTEP of the VLAN's tunnel, then drops the original.
#[inline(always)]
fn flood(ctx: &TcContext, decision: &Decision, ingress_ifindex: u32) -> i32 {
    let slot = decision.port.slot;
    if let Some(stats) = counters::of(slot) {
        stats.flooded += 1;
    }
    // SAFETY: replaced whole under the controller's barrier discipline (see `maps::FLOOD`).
    if let Some(set) = unsafe { FLOOD.get(u32::from(decision.vlan)) } {
        flood_ports(ctx, decision, set, ingress_ifindex);
    }
    if !decision.from_overlay {
        tunnel::replicate(ctx, decision);
    }
    TC_ACT_SHOT
}

#[inline(always)]
fn flood_ports(ctx: &TcContext, decision: &Decision, set: &FloodSet, ingress_ifindex: u32) {
    let slot = decision.port.slot;
    // The one frame is retagged for each port in turn: each decision starts from the tag the
    // last one left, and the priority is the one the frame arrived with.
    let mut frame = SkbFrame::<false>(ctx);
    let priority = decision.priority;
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
        let target = unsafe { PORTS.get(out) };
        let sent =
            egress::prepare(&mut frame, target, decision.vlan, priority).and_then(|target| {
                ctx.clone_redirect(out, 0)
                    .map(|()| target)
                    .map_err(|_| DropReason::HelperFailed)
            });
        match sent {
            Ok(target) => counters::transmitted(target.slot, u64::from(ctx.len())),
            Err(reason) => counters::flood_skipped(slot, reason),
        }
    }
}

/// Tags a socket buffer with the kernel's VLAN helpers, or in place where the tag is in the
/// packet data.
impl<const DIRECT: bool> Tagger for SkbFrame<'_, DIRECT> {
    #[inline(always)]
    fn tag(&self) -> Result<Tag, DropReason> {
        frame::outer_tag(self)
    }

    /// Pushes the tag as the skb's accelerated tag (an existing one moves into the data).
    #[inline(always)]
    fn push(&mut self, tci: u16) -> Result<(), TagFailed> {
        // SAFETY: a plain helper call on the program's own skb.
        if unsafe { bpf_skb_vlan_push(self.0.skb.skb, ETH_P_8021Q.to_be(), tci) } != 0 {
            return Err(TagFailed);
        }
        Ok(())
    }

    #[inline(always)]
    fn pop(&mut self) -> Result<(), TagFailed> {
        // SAFETY: a plain helper call on the program's own skb.
        if unsafe { bpf_skb_vlan_pop(self.0.skb.skb) } != 0 {
            return Err(TagFailed);
        }
        Ok(())
    }

    /// Rewrites a tag in the data in place; an accelerated one is popped and pushed again,
    /// with the whole control information.
    #[inline(always)]
    fn retag(&mut self, tci: u16) -> Result<(), TagFailed> {
        if self.accel_tci().is_some() {
            self.pop()?;
            return self.push(tci);
        }
        self.0
            .store(ETH_HLEN, &tci.to_be_bytes(), 0)
            .map_err(|_| TagFailed)
    }
}
