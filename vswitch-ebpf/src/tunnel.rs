//! VXLAN on the TCX path: encapsulation towards remote VTEPs (one remote, or every remote of a
//! VNI for a flood) and decapsulation on the underlay. The headers and the checks are
//! `vswitch_common::vxlan`'s; this module only moves bytes and calls helpers.

use aya_ebpf::{
    bindings::{
        BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6, BPF_F_ADJ_ROOM_ENCAP_L2_ETH,
        BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, BPF_F_ADJ_ROOM_ENCAP_L4_UDP,
        BPF_F_ADJ_ROOM_FIXED_GSO, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT,
        bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    },
    helpers::{bpf_get_hash_recalc, bpf_redirect, bpf_skb_change_head, bpf_skb_change_tail},
    programs::TcContext,
};
use vswitch_common::{
    bounded, egress,
    fdb::Location,
    frame::ETH_HLEN,
    stats::DropReason,
    vxlan::{self, Arrival, ETH_P_IP, ETH_P_IPV6, MAX_REMOTES, NextHop, Outer, Tunnel, Vtep},
};

use crate::{
    counters,
    frame::SkbFrame,
    maps::{NEXT_HOPS, TUNNEL_FLOOD, TUNNEL_VLANS, TUNNELS, UNDERLAYS},
    pipeline::{self, Decision},
    tc,
};

/// The shortest Ethernet frame without its FCS; shorter inner frames are padded to it before
/// decapsulation (a shrink must leave at least an outer IP header's worth of bytes).
const ETH_ZLEN: u32 = 60;

/// Decapsulates the switch's VXLAN frames that arrive on an underlay and switches their inner
/// frames; everything else on the underlay goes on to the host's stack.
#[inline(always)]
pub fn underlay_ingress(ctx: &TcContext) -> i32 {
    // SAFETY: `skb` is the program's context pointer.
    let ifindex = unsafe { (*ctx.skb.skb).ifindex };
    // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
    let Some(underlay) = (unsafe { UNDERLAYS.get(ifindex) }) else {
        return TC_ACT_OK;
    };
    let received = match vxlan::arrival(&SkbFrame::<false>(ctx), underlay.dstport) {
        Arrival::Pass => return TC_ACT_OK,
        Arrival::Vxlan(received) => received,
        Arrival::Drop(reason) => return refuse(ctx, underlay.slot, reason),
    };
    // SAFETY: as for `UNDERLAYS`.
    let tunnel = match vxlan::admit(&received, unsafe { TUNNELS.get(received.vni) }) {
        Ok(tunnel) => tunnel,
        Err(reason) => return refuse(ctx, underlay.slot, reason),
    };
    let Ok(protocol_set) = decapsulate(ctx, received.outer_len, tunnel.is_ipv6()) else {
        return refuse(ctx, tunnel.port.slot, DropReason::HelperFailed);
    };
    let location = Location {
        ifindex,
        remote: received.remote,
    };
    let Ok(mut decision) = pipeline::from_tunnel(
        ctx,
        &SkbFrame::<false>(ctx),
        &tunnel.port,
        location,
        u64::from(ctx.len()),
    ) else {
        return TC_ACT_SHOT;
    };
    decision.protocol_set = protocol_set;
    tc::switch(ctx, &decision, ifindex)
}

/// Counts a refused underlay frame on `slot` and drops it.
#[inline(always)]
fn refuse(ctx: &TcContext, slot: u32, reason: DropReason) -> i32 {
    counters::received(slot, u64::from(ctx.len()));
    counters::dropped(slot, reason);
    TC_ACT_SHOT
}

/// Removes the `outer_len` bytes of outer headers (IPv6 ones when `outer_v6`) in front of the
/// inner frame: the shrink takes them from behind the outer Ethernet header, which then gets
/// the inner frame's.
///
/// Whether the skb's protocol now matches the inner frame: the shrink keeps the outer one,
/// and corrects it only for an IP inner frame of the other family, with the decapsulation
/// flags (Linux 6.3). ARP keeps a stale protocol.
#[inline(always)]
fn decapsulate(ctx: &TcContext, outer_len: usize, outer_v6: bool) -> Result<bool, ()> {
    let inner_eth: [u8; ETH_HLEN] = ctx.load(outer_len).map_err(|_| ())?;
    let inner_len = ctx.len().saturating_sub(outer_len as u32);
    if inner_len < ETH_ZLEN {
        // SAFETY: a plain helper call on the program's own skb.
        if unsafe { bpf_skb_change_tail(ctx.skb.skb, outer_len as u32 + ETH_ZLEN, 0) } != 0 {
            return Err(());
        }
    }
    let inner = u16::from_be_bytes([inner_eth[12], inner_eth[13]]);
    let switch_family = match (inner, outer_v6) {
        (ETH_P_IP, true) => BPF_F_ADJ_ROOM_DECAP_L3_IPV4,
        (ETH_P_IPV6, false) => BPF_F_ADJ_ROOM_DECAP_L3_IPV6,
        _ => 0,
    };
    let same_family = matches!((inner, outer_v6), (ETH_P_IP, false) | (ETH_P_IPV6, true));
    let fixed = u64::from(BPF_F_ADJ_ROOM_FIXED_GSO);
    let protocol_set = if switch_family != 0
        && ctx
            .adjust_room(
                -(outer_len as i32),
                BPF_ADJ_ROOM_MAC,
                fixed | u64::from(switch_family),
            )
            .is_ok()
    {
        true
    } else {
        ctx.adjust_room(-(outer_len as i32), BPF_ADJ_ROOM_MAC, fixed)
            .map_err(|_| ())?;
        same_family
    };
    ctx.store(0, &inner_eth, 0).map_err(|_| ())?;
    Ok(protocol_set)
}

/// Sends a frame to the remote VTEP behind which its destination is.
#[inline(always)]
pub fn unicast(ctx: &TcContext, decision: &Decision, remote: Vtep) -> i32 {
    let slot = decision.port.slot;
    // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
    let tunnel = unsafe { TUNNEL_VLANS.get(u32::from(decision.vlan)) };
    let sent = tunnel.ok_or(DropReason::VlanEgress).and_then(|tunnel| {
        let inner = prepare(ctx, tunnel, decision)?;
        send(ctx, tunnel, &inner, &remote, false)?;
        Ok(tunnel)
    });
    match sent {
        Ok(tunnel) => {
            if let Some(stats) = counters::of(slot) {
                stats.forwarded += 1;
            }
            counters::transmitted(tunnel.port.slot, u64::from(ctx.len()));
            TC_ACT_REDIRECT
        }
        Err(reason) => {
            counters::dropped(slot, reason);
            TC_ACT_SHOT
        }
    }
}

/// Sends a copy of a flooded frame to every remote VTEP of its VLAN's tunnel, once each
/// (head-end replication). Called last in a flood: the frame is encapsulated in place.
#[inline(always)]
pub fn replicate(ctx: &TcContext, decision: &Decision) {
    // SAFETY: controller-written under the barrier discipline (see `maps::PORTS`).
    let Some(tunnel) = (unsafe { TUNNEL_VLANS.get(u32::from(decision.vlan)) }) else {
        return;
    };
    // SAFETY: replaced whole, like `FLOOD`.
    let Some(set) = (unsafe { TUNNEL_FLOOD.get(tunnel.vni) }) else {
        return;
    };
    if set.len == 0 {
        return;
    }
    let slot = decision.port.slot;
    let inner = match prepare(ctx, tunnel, decision) {
        Ok(inner) => inner,
        Err(reason) => {
            counters::dropped(slot, reason);
            return;
        }
    };
    for index in 0..MAX_REMOTES {
        if index as u32 >= set.len {
            break;
        }
        let Some(remote) = bounded::get(&set.remotes, index) else {
            break;
        };
        match send(ctx, tunnel, &inner, remote, true) {
            Ok(()) => counters::transmitted(tunnel.port.slot, u64::from(ctx.len())),
            Err(reason) => counters::dropped(slot, reason),
        }
    }
}

/// What encapsulation keeps of the inner frame: its Ethernet header and its length.
struct Inner {
    eth: [u8; ETH_HLEN],
    len: u16,
    hash: u32,
}

/// Untags the frame as the tunnel's access port wants it, and makes room for the outer
/// headers. What the outer headers need of the inner frame.
#[inline(always)]
fn prepare(ctx: &TcContext, tunnel: &Tunnel, decision: &Decision) -> Result<Inner, DropReason> {
    egress::prepare(
        &mut SkbFrame::<false>(ctx),
        Some(&tunnel.port),
        decision.vlan,
        decision.priority,
    )?;
    let eth: [u8; ETH_HLEN] = ctx.load(0).map_err(|_| DropReason::HelperFailed)?;
    // A GSO frame may be longer: segmentation rewrites the outer lengths of every segment.
    let len = u16::try_from(ctx.len()).unwrap_or(u16::MAX);
    // SAFETY: a plain helper call on the program's own skb.
    let hash = unsafe { bpf_get_hash_recalc(ctx.skb.skb) };
    let overhead = tunnel.overhead();
    let ethertype = u16::from_be_bytes([eth[12], eth[13]]);
    let grown = if ethertype == ETH_P_IP || ethertype == ETH_P_IPV6 {
        // IP keeps its GSO state: a 64 KiB segment is encapsulated once and segmented later.
        let l3 = if tunnel.is_ipv6() {
            BPF_F_ADJ_ROOM_ENCAP_L3_IPV6
        } else {
            BPF_F_ADJ_ROOM_ENCAP_L3_IPV4
        };
        let flags = u64::from(
            BPF_F_ADJ_ROOM_FIXED_GSO
                | l3
                | BPF_F_ADJ_ROOM_ENCAP_L4_UDP
                | BPF_F_ADJ_ROOM_ENCAP_L2_ETH,
        ) | ((ETH_HLEN as u64) << 56);
        ctx.adjust_room(overhead as i32, BPF_ADJ_ROOM_MAC, flags)
            .is_ok()
    } else {
        // Other protocols (ARP) are never GSO; `adjust_room` refuses them.
        // SAFETY: a plain helper call on the program's own skb.
        unsafe { bpf_skb_change_head(ctx.skb.skb, overhead as u32, 0) == 0 }
    };
    if !grown {
        return Err(DropReason::HelperFailed);
    }
    Ok(Inner { eth, len, hash })
}

/// Writes the outer headers towards `remote` on the grown frame and sends it (a clone when
/// `clone`) out of the interface towards its next hop.
#[inline(always)]
fn send(
    ctx: &TcContext,
    tunnel: &Tunnel,
    inner: &Inner,
    remote: &Vtep,
    clone: bool,
) -> Result<(), DropReason> {
    let next_hop = next_hop(ctx, remote)?;
    let ifindex = next_hop.ifindex;
    let outer = Outer {
        next_hop,
        remote: *remote,
        src_port: vxlan::source_port(inner.hash),
        inner_len: inner.len,
    };
    let stored = if tunnel.is_ipv6() {
        ctx.store(0, &vxlan::encap_v6(tunnel, &outer, &inner.eth), 0)
    } else {
        ctx.store(0, &vxlan::encap_v4(tunnel, &outer, &inner.eth), 0)
    };
    stored.map_err(|_| DropReason::HelperFailed)?;
    if clone {
        return ctx
            .clone_redirect(ifindex, 0)
            .map_err(|_| DropReason::HelperFailed);
    }
    // SAFETY: a plain helper call on an ifindex.
    if unsafe { bpf_redirect(ifindex, 0) } != i64::from(TC_ACT_REDIRECT) {
        return Err(DropReason::HelperFailed);
    }
    Ok(())
}

/// How to reach `remote`, and whether the frame fits the way there: a GSO frame is segmented
/// later, any other must fit the egress MTU.
#[inline(always)]
fn next_hop(ctx: &TcContext, remote: &Vtep) -> Result<NextHop, DropReason> {
    // SAFETY: replaced whole under the barrier discipline (see `maps::NEXT_HOPS`).
    let Some(next_hop) = (unsafe { NEXT_HOPS.get(remote) }) else {
        return Err(DropReason::NoRoute);
    };
    // SAFETY: `skb` is the program's context pointer.
    let gso = unsafe { (*ctx.skb.skb).gso_size } != 0;
    if !gso && ctx.len() > u32::from(next_hop.mtu) + ETH_HLEN as u32 {
        return Err(DropReason::TooBig);
    }
    Ok(*next_hop)
}
