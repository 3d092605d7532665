//! MAC dispatch on macvlan-style parents: XDP delivers unicast that arrives on a parent, TCX on
//! the parent copies group frames to the children, and TCX on each child's interface sends what
//! the child transmits. The decisions are `vswitch_common::dispatch`'s.

use aya_ebpf::{
    bindings::{BPF_F_INGRESS, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, xdp_action},
    helpers::{bpf_redirect, bpf_redirect_peer},
    programs::{TcContext, XdpContext},
};
use vswitch_common::{
    bounded,
    dispatch::{
        self, Arrival, CHILD_F_PEER, Child, ChildKey, Departure, Lookup, MAX_CHILDREN, Mode,
        Origin, Parent, SourceKey,
    },
    frame::{ETH_HLEN, Frame},
    ipvlan::{self, Address, AddressKey},
    mac::MacAddr,
    neighbour::{self, Request},
    stats::DropReason,
};

use crate::{
    counters,
    frame::{SkbFrame, XdpFrame},
    maps::{ADDRESSES, CHILD_TX, CHILDREN, DISPATCH, PARENTS, SOURCES},
    responder,
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

/// The children of one parent, as the maps hold them, for a frame `F`.
struct Maps<'f, F: Frame> {
    parent: u32,
    frame: &'f F,
}

impl<F: Frame> Lookup<'static> for Maps<'_, F> {
    #[inline(always)]
    fn by_mac(&self, mac: &MacAddr) -> Option<&'static Child> {
        // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
        unsafe { DISPATCH.get(ChildKey::new(self.parent, *mac)) }
    }

    #[inline(always)]
    fn by_ifindex(&self, ifindex: u32) -> Option<&'static Child> {
        // SAFETY: as for `by_mac`.
        unsafe { CHILDREN.get(ifindex) }
    }

    #[inline(always)]
    fn by_address(&self) -> Option<&'static Child> {
        self.by_ip(&ipvlan::destination(self.frame)?)
    }

    #[inline(always)]
    fn by_ip(&self, address: &Address) -> Option<&'static Child> {
        let key = AddressKey {
            parent: self.parent,
            address: *address,
        };
        // SAFETY: as for `by_mac`.
        unsafe { ADDRESSES.get(key) }
    }

    #[inline(always)]
    fn request(&self) -> Option<Request> {
        neighbour::request(self.frame, ETH_HLEN)
    }

    #[inline(always)]
    fn allows(&self, child: &Child, src: &MacAddr) -> bool {
        // SAFETY: read for its presence only.
        unsafe { SOURCES.get(SourceKey::new(child.ifindex, *src)) }.is_some()
    }
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
    let len = (ctx.data_end() - ctx.data()) as u64;
    // One lookup of the parent's counters for the whole frame.
    let Some(stats) = counters::of(parent.slot) else {
        return xdp_action::XDP_PASS;
    };
    stats.rx_packets += 1;
    stats.rx_bytes += len;
    let frame = XdpFrame(ctx);
    let Some((dst, src)) = addresses(&frame) else {
        return xdp_action::XDP_PASS;
    };
    // Group frames are [`parent_tc`]'s.
    if vswitch_common::mac::is_group(&dst) {
        return xdp_action::XDP_PASS;
    }
    let lookup = Maps {
        parent: ifindex,
        frame: &frame,
    };
    let child = match dispatch::arrival(parent, &dst, &src, &lookup) {
        Arrival::Child(child) => child,
        Arrival::Flood | Arrival::Pass | Arrival::Answer { .. } => return xdp_action::XDP_PASS,
    };
    if child.mode() == Some(Mode::IpvlanL3)
        && dst != child.mac
        && rewrite_destination(ctx, &child.mac).is_err()
    {
        counters::dropped(parent.slot, DropReason::HelperFailed);
        return xdp_action::XDP_DROP;
    }
    match CHILD_TX.redirect(child.ifindex, u64::from(xdp_action::XDP_DROP)) {
        Ok(action) => {
            counters::transmitted(child.slot, len);
            stats.forwarded += 1;
            action
        }
        Err(action) => {
            counters::dropped(parent.slot, DropReason::HelperFailed);
            action
        }
    }
}

/// Routes a unicast frame to an ipvlan L3 child: its destination becomes the child's address
/// `mac` (the sender may have addressed a gateway).
#[inline(always)]
fn rewrite_destination(ctx: &XdpContext, mac: &MacAddr) -> Result<(), ()> {
    let start = ctx.data();
    if start + 6 > ctx.data_end() {
        return Err(());
    }
    // SAFETY: the range was checked against `data_end` just above.
    unsafe { (start as *mut MacAddr).write_unaligned(*mac) };
    Ok(())
}

/// TCX on a parent: a copy of each group frame to every child that takes it; the frame goes on
/// to the parent's stack, as with the driver. In ipvlan L3 mode, the switch answers address
/// resolution for the children instead.
#[inline(always)]
pub fn parent_tc(ctx: &TcContext) -> i32 {
    // SAFETY: `skb` is the program's context pointer.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    // SAFETY: replaced whole under the barrier discipline (see `maps::PARENTS`).
    let Some(parent) = (unsafe { PARENTS.get(ifindex) }) else {
        return TC_ACT_OK;
    };
    let frame = SkbFrame::<false>(ctx);
    let Some((dst, src)) = addresses(&frame) else {
        return TC_ACT_OK;
    };
    if !vswitch_common::mac::is_group(&dst) {
        return TC_ACT_OK;
    }
    let lookup = Maps {
        parent: ifindex,
        frame: &frame,
    };
    match dispatch::arrival(parent, &dst, &src, &lookup) {
        Arrival::Flood => {
            let origin = Origin::Outside {
                sender: lookup.by_mac(&src),
            };
            flood(ctx, parent, origin, &src);
            TC_ACT_OK
        }
        Arrival::Answer { request, answer } => {
            answered(ctx, parent.slot, &request, &answer, ifindex, 0, false)
        }
        Arrival::Child(_) | Arrival::Pass => TC_ACT_OK,
    }
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
    let frame = SkbFrame::<false>(ctx);
    let Some((dst, src)) = addresses(&frame) else {
        counters::dropped(child.slot, DropReason::Runt);
        return TC_ACT_SHOT;
    };
    let lookup = Maps {
        parent: child.parent,
        frame: &frame,
    };
    match dispatch::departure(child, &dst, &lookup) {
        Departure::Answer { request, answer } => answered(
            ctx,
            child.slot,
            &request,
            &answer,
            child.ifindex,
            child.slot,
            child.has(CHILD_F_PEER),
        ),
        Departure::Parent => out_of(child.parent, child, 0, false, len),
        Departure::Host => {
            // SAFETY: a plain helper call on an ifindex.
            let action = unsafe { bpf_redirect(child.parent, u64::from(BPF_F_INGRESS)) };
            counted(action, child, 0, len)
        }
        Departure::Sibling(sibling) => {
            // ipvlan L3 routes: the sender may have addressed a gateway.
            if sibling.mode() == Some(Mode::IpvlanL3)
                && dst != sibling.mac
                && ctx.store(0, &sibling.mac, 0).is_err()
            {
                counters::dropped(child.slot, DropReason::HelperFailed);
                return TC_ACT_SHOT;
            }
            let peer = sibling.has(CHILD_F_PEER);
            out_of(sibling.ifindex, child, sibling.slot, peer, len)
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

/// Turns the request in the frame into its reply from `answer` and sends it out of interface
/// `to` (to its peer's ingress with `peer`), counting it as answered for the port in `slot`
/// and, unless `to_slot` is 0 (a parent), transmitted on `to_slot`.
#[inline(always)]
fn answered(
    ctx: &TcContext,
    slot: u32,
    request: &Request,
    answer: &MacAddr,
    to: u32,
    to_slot: u32,
    peer: bool,
) -> i32 {
    if responder::rewrite(ctx, ETH_HLEN, request, answer).is_err() {
        counters::dropped(slot, DropReason::HelperFailed);
        return TC_ACT_SHOT;
    }
    if redirect(to, peer) != i64::from(TC_ACT_REDIRECT) {
        counters::dropped(slot, DropReason::HelperFailed);
        return TC_ACT_SHOT;
    }
    if let Some(stats) = counters::of(slot) {
        stats.answered += 1;
    }
    if to_slot != 0 {
        counters::transmitted(to_slot, u64::from(ctx.len()));
    }
    TC_ACT_REDIRECT
}

/// Redirects the frame of `len` bytes from `child` to interface `to` (its peer's ingress with
/// `peer`), counting it on `child` and, unless `to_slot` is 0 (the parent), on the receiver.
#[inline(always)]
fn out_of(to: u32, child: &Child, to_slot: u32, peer: bool, len: u64) -> i32 {
    counted(redirect(to, peer), child, to_slot, len)
}

/// Redirects the frame to interface `to`, or to its peer's ingress with `peer`; the helper's
/// action.
#[inline(always)]
fn redirect(to: u32, peer: bool) -> i64 {
    // SAFETY: plain helper calls on an ifindex.
    unsafe {
        if peer {
            bpf_redirect_peer(to, 0)
        } else {
            bpf_redirect(to, 0)
        }
    }
}

/// Counts the redirect helper's `action` for a frame of `len` bytes from `child`: forwarded
/// (and transmitted on `to_slot` unless it is 0, the parent) or a helper failure.
#[inline(always)]
fn counted(action: i64, child: &Child, to_slot: u32, len: u64) -> i32 {
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
        let allowed = member.mode() == Some(Mode::Source)
            // SAFETY: read for its presence only.
            && unsafe { SOURCES.get(SourceKey::new(to, *src)) }.is_some();
        if !dispatch::floods_to(member, origin, allowed) {
            continue;
        }
        match ctx.clone_redirect(to, 0) {
            Ok(()) => counters::transmitted(member.slot, len),
            Err(_) => counters::dropped(parent.slot, DropReason::HelperFailed),
        }
    }
}
