//! MAC dispatch on macvlan-style parents: XDP delivers unicast that arrives on a parent, TCX on
//! the parent copies group frames to the children, and TCX on each child's interface sends what
//! the child transmits. The decisions are `vswitch_common::dispatch`'s.

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, xdp_action},
    helpers::{bpf_redirect, bpf_redirect_peer},
    programs::{TcContext, XdpContext},
};
use vswitch_common::{
    bounded,
    dispatch::{
        self, Arrival, CHILD_F_PEER, Child, ChildKey, Departure, MAX_CHILDREN, Mode, Origin,
        Parent, SourceKey,
    },
    frame::Frame,
    mac::MacAddr,
    stats::DropReason,
};

use crate::{
    counters,
    frame::{SkbFrame, XdpFrame},
    maps::{CHILD_TX, CHILDREN, DISPATCH, PARENTS, SOURCES},
};

/// The destination and source addresses at the head of a frame.
#[inline(always)]
fn addresses<F: Frame>(frame: &F) -> Option<(MacAddr, MacAddr)> {
    let bytes: [u8; 12] = frame.read(0)?;
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&bytes[..6]);
    src.copy_from_slice(&bytes[6..]);
    Some((dst, src))
}

/// The child of `parent` with address `mac`.
#[inline(always)]
fn by_mac(parent: u32, mac: &MacAddr) -> Option<&'static Child> {
    // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
    unsafe { DISPATCH.get(ChildKey::new(parent, *mac)) }
}

/// Whether source-mode `child` accepts frames from `src`.
#[inline(always)]
fn allows(child: &Child, src: &MacAddr) -> bool {
    // SAFETY: read for its presence only.
    unsafe { SOURCES.get(SourceKey::new(child.ifindex, *src)) }.is_some()
}

/// XDP on a parent: unicast for a child is redirected to it; everything else goes on to the
/// parent's stack (and group frames to [`parent_tc`]).
#[inline(always)]
pub fn parent_xdp(ctx: &XdpContext) -> u32 {
    let ifindex = ctx.ingress_ifindex() as u32;
    // SAFETY: replaced whole under the barrier discipline (see `maps::PARENTS`).
    let Some(parent) = (unsafe { PARENTS.get(ifindex) }) else {
        return xdp_action::XDP_PASS;
    };
    counters::received(parent.slot, (ctx.data_end() - ctx.data()) as u64);
    let Some((dst, src)) = addresses(&XdpFrame(ctx)) else {
        return xdp_action::XDP_PASS;
    };
    let to = match dispatch::arrival(parent, &dst, &src, |mac| by_mac(ifindex, mac), allows) {
        Arrival::Child(to) => to,
        Arrival::Flood | Arrival::Pass => return xdp_action::XDP_PASS,
    };
    let len = (ctx.data_end() - ctx.data()) as u64;
    match CHILD_TX.redirect(to, u64::from(xdp_action::XDP_DROP)) {
        Ok(action) => {
            // SAFETY: as for `by_mac`.
            if let Some(child) = unsafe { CHILDREN.get(to) } {
                counters::transmitted(child.slot, len);
            }
            if let Some(stats) = counters::of(parent.slot) {
                stats.forwarded += 1;
            }
            action
        }
        Err(action) => {
            counters::dropped(parent.slot, DropReason::HelperFailed);
            action
        }
    }
}

/// TCX on a parent: a copy of each group frame to every child that takes it; the frame goes on
/// to the parent's stack, as with the driver.
#[inline(always)]
pub fn parent_tc(ctx: &TcContext) -> i32 {
    // SAFETY: `skb` is the program's context pointer.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    // SAFETY: replaced whole under the barrier discipline (see `maps::PARENTS`).
    let Some(parent) = (unsafe { PARENTS.get(ifindex) }) else {
        return TC_ACT_OK;
    };
    let Some((dst, src)) = addresses(&SkbFrame(ctx)) else {
        return TC_ACT_OK;
    };
    if !vswitch_common::mac::is_group(&dst) {
        return TC_ACT_OK;
    }
    let origin = Origin::Outside {
        sender: by_mac(ifindex, &src),
    };
    flood(ctx, parent, origin, &src);
    TC_ACT_OK
}

/// TCX on a child's interface: what the child sends goes to a sibling or out of its parent.
#[inline(always)]
pub fn child_tc(ctx: &TcContext) -> i32 {
    // SAFETY: `skb` is the program's context pointer.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    let len = u64::from(ctx.len());
    // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
    let Some(child) = (unsafe { CHILDREN.get(ifindex) }) else {
        counters::received(counters::NOT_A_PORT_SLOT, len);
        counters::dropped(counters::NOT_A_PORT_SLOT, DropReason::NotAPort);
        return TC_ACT_SHOT;
    };
    counters::received(child.slot, len);
    let Some((dst, src)) = addresses(&SkbFrame(ctx)) else {
        counters::dropped(child.slot, DropReason::Runt);
        return TC_ACT_SHOT;
    };
    match dispatch::departure(child, &dst, |mac| by_mac(child.parent, mac)) {
        Departure::Parent => out_of(child.parent, child, 0, false, len),
        Departure::Sibling(to) => {
            // SAFETY: as above.
            match unsafe { CHILDREN.get(to) } {
                Some(sibling) => {
                    let peer = sibling.has(CHILD_F_PEER);
                    out_of(to, child, sibling.slot, peer, len)
                }
                None => {
                    counters::dropped(child.slot, DropReason::VlanEgress);
                    TC_ACT_SHOT
                }
            }
        }
        Departure::Flood => {
            if let Some(stats) = counters::of(child.slot) {
                stats.flooded += 1;
            }
            // SAFETY: replaced whole under the barrier discipline (see `maps::PARENTS`).
            if let Some(parent) = unsafe { PARENTS.get(child.parent) } {
                flood(ctx, parent, Origin::Sibling(child), &src);
            }
            out_of(child.parent, child, 0, false, len)
        }
    }
}

/// Redirects the frame of `len` bytes from `child` to interface `to` (its peer's ingress with
/// `peer`), counting it on `child` and, unless `to_slot` is 0 (the parent), on the receiver.
#[inline(always)]
fn out_of(to: u32, child: &Child, to_slot: u32, peer: bool, len: u64) -> i32 {
    // SAFETY: plain helper calls on an ifindex.
    let action = unsafe {
        if peer {
            bpf_redirect_peer(to, 0)
        } else {
            bpf_redirect(to, 0)
        }
    };
    if action != i64::from(TC_ACT_REDIRECT) {
        counters::dropped(child.slot, DropReason::HelperFailed);
        return TC_ACT_SHOT;
    }
    if let Some(stats) = counters::of(child.slot) {
        stats.forwarded += 1;
    }
    if to_slot != 0 {
        counters::transmitted(to_slot, len);
    }
    TC_ACT_REDIRECT
}

/// Clones the frame to every child of `parent` that a group frame from `origin` reaches.
#[inline(always)]
fn flood(ctx: &TcContext, parent: &Parent, origin: Origin<'_>, src: &MacAddr) {
    let len = u64::from(ctx.len());
    for index in 0..MAX_CHILDREN {
        if index as u32 >= parent.len {
            break;
        }
        let Some(&to) = bounded::get(&parent.children, index) else {
            break;
        };
        // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
        let Some(member) = (unsafe { CHILDREN.get(to) }) else {
            continue;
        };
        let allowed = member.mode() == Some(Mode::Source) && allows(member, src);
        if !dispatch::floods_to(member, origin, allowed) {
            continue;
        }
        match ctx.clone_redirect(to, 0) {
            Ok(()) => counters::transmitted(member.slot, len),
            Err(_) => counters::dropped(parent.slot, DropReason::HelperFailed),
        }
    }
}
