//! The XDP path: redirects through the `TX_PORTS` devmap, whose egress program tags per port.

use aya_ebpf::{
    bindings::{BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, xdp_action},
    helpers::bpf_xdp_adjust_head,
    programs::XdpContext,
};
use network_types::{eth::EthHdr, vlan::VlanHdr};
use vswitch_common::{
    forward::Verdict,
    frame::{self, Tag},
    port::Egress,
    stats::DropReason,
    vlan::{ETH_P_8021Q, VID_MASK},
};

use crate::{
    counters,
    frame::XdpFrame,
    maps::{PORTS, TX_PORTS},
    pipeline,
};

/// Length of the two addresses that lead every Ethernet header.
const ADDRS_LEN: usize = 12;

/// Switches one frame received on a port.
#[inline(always)]
pub fn ingress(ctx: &XdpContext) -> u32 {
    let ifindex = ctx.ingress_ifindex() as u32;
    let len = (ctx.data_end() - ctx.data()) as u64;
    let Ok(decision) = pipeline::ingress(ctx, &XdpFrame(ctx), ifindex, len) else {
        return xdp_action::XDP_DROP;
    };
    let slot = decision.port.slot;
    let (key, flags) = match decision.verdict {
        Verdict::Forward { ifindex: out } => {
            // SAFETY: see `pipeline::ingress`.
            let member = unsafe { PORTS.get(&out) }
                .is_some_and(|target| target.egress(decision.vlan) != Egress::NotMember);
            if !member {
                counters::dropped(slot, DropReason::VlanEgress);
                return xdp_action::XDP_DROP;
            }
            (out, 0)
        }
        _ => (0, u64::from(BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)),
    };
    match TX_PORTS.redirect(key, flags | u64::from(xdp_action::XDP_DROP)) {
        Ok(action) => {
            if let Some(stats) = counters::of(slot) {
                if flags == 0 {
                    stats.forwarded += 1;
                } else {
                    stats.flooded += 1;
                }
            }
            action
        }
        Err(action) => {
            counters::dropped(slot, DropReason::HelperFailed);
            action
        }
    }
}

/// Devmap egress: lets the frame out of this port only if the port is in its VLAN, tagged as
/// the port wants it.
#[inline(always)]
pub fn egress(ctx: &XdpContext) -> u32 {
    // SAFETY: `ctx` is the program's context pointer.
    let out = unsafe { (*ctx.ctx).egress_ifindex };
    let ifindex = ctx.ingress_ifindex() as u32;
    // SAFETY: see `pipeline::ingress`.
    let (Some(port), Some(target)) = (unsafe { PORTS.get(&ifindex) }, unsafe { PORTS.get(&out) })
    else {
        return xdp_action::XDP_DROP;
    };
    let Ok(tag) = frame::outer_tag(&XdpFrame(ctx)) else {
        return xdp_action::XDP_DROP;
    };
    let Ok(vlan) = port.ingress_vlan(tag.tci()) else {
        return xdp_action::XDP_DROP;
    };
    let tagged = match (target.egress(vlan), tag) {
        (Egress::NotMember, _) => return xdp_action::XDP_DROP,
        (Egress::Untagged, Tag::None) => Ok(()),
        (Egress::Untagged, _) => pop_tag(ctx),
        (Egress::Tagged, Tag::None) => push_tag(ctx, vlan),
        (Egress::Tagged, Tag::InData(tci) | Tag::Accel(tci)) if tci & VID_MASK == vlan => Ok(()),
        (Egress::Tagged, _) => set_tci(ctx, vlan),
    };
    if tagged.is_err() {
        counters::dropped(target.slot, DropReason::HelperFailed);
        return xdp_action::XDP_DROP;
    }
    counters::transmitted(target.slot, (ctx.data_end() - ctx.data()) as u64);
    xdp_action::XDP_PASS
}

/// Inserts an 802.1Q tag of `vid` after the addresses.
#[inline(always)]
fn push_tag(ctx: &XdpContext, vid: u16) -> Result<(), ()> {
    // SAFETY: growing the headroom is checked by the helper's return value.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(VlanHdr::LEN as i32)) } != 0 {
        return Err(());
    }
    let data = ctx.data();
    if data + EthHdr::LEN + VlanHdr::LEN > ctx.data_end() {
        return Err(());
    }
    let [type_hi, type_lo] = ETH_P_8021Q.to_be_bytes();
    let [vid_hi, vid_lo] = vid.to_be_bytes();
    // SAFETY: the whole range was checked against `data_end`.
    unsafe {
        let addrs = ((data + VlanHdr::LEN) as *const [u8; ADDRS_LEN]).read_unaligned();
        (data as *mut [u8; ADDRS_LEN]).write_unaligned(addrs);
        ((data + ADDRS_LEN) as *mut [u8; 4]).write_unaligned([type_hi, type_lo, vid_hi, vid_lo]);
    }
    Ok(())
}

/// Removes the outer tag.
#[inline(always)]
fn pop_tag(ctx: &XdpContext) -> Result<(), ()> {
    let data = ctx.data();
    if data + EthHdr::LEN + VlanHdr::LEN > ctx.data_end() {
        return Err(());
    }
    // SAFETY: the range was checked against `data_end`.
    unsafe {
        let addrs = (data as *const [u8; ADDRS_LEN]).read_unaligned();
        ((data + VlanHdr::LEN) as *mut [u8; ADDRS_LEN]).write_unaligned(addrs);
    }
    // SAFETY: shrinking by a length known to be inside the frame.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, VlanHdr::LEN as i32) } != 0 {
        return Err(());
    }
    Ok(())
}

/// Rewrites the VLAN identifier of the outer tag, keeping its priority bits.
#[inline(always)]
fn set_tci(ctx: &XdpContext, vid: u16) -> Result<(), ()> {
    let at = ctx.data() + EthHdr::LEN;
    if at + 2 > ctx.data_end() {
        return Err(());
    }
    // SAFETY: the range was checked against `data_end`.
    unsafe {
        let old = u16::from_be_bytes((at as *const [u8; 2]).read_unaligned());
        let tci = (old & !VID_MASK) | vid;
        (at as *mut [u8; 2]).write_unaligned(tci.to_be_bytes());
    }
    Ok(())
}
