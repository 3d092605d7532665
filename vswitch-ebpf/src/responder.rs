//! Answering an ARP request or a neighbour solicitation in place: the frame becomes the reply
//! that `vswitch_common::neighbour` builds, and the caller sends it back where it came from.

use aya_ebpf::{bindings::BPF_F_RECOMPUTE_CSUM, helpers::bpf_skb_change_type, programs::TcContext};
use vswitch_common::{
    mac::MacAddr,
    neighbour::{self, ARP_PATCH_AT, ND_ADDRESSES_AT, ND_ICMP_AT, ND_OPTION_AT, Patch, Request},
};

/// `PACKET_HOST`: the reply is addressed to one station, unlike the request.
const PACKET_HOST: u32 = 0;

/// Rewrites the request in `ctx`, whose network header starts at `l3`, into the reply saying
/// that its target is at `answer`. Fails if a helper refuses.
#[inline(always)]
pub fn rewrite(ctx: &TcContext, l3: usize, request: &Request, answer: &MacAddr) -> Result<(), ()> {
    let reply = neighbour::reply(request, answer);
    // Keeps `skb->csum` right for a receiver that validates against it.
    let flags = u64::from(BPF_F_RECOMPUTE_CSUM);
    ctx.store(0, &reply.addresses, flags).map_err(|_| ())?;
    match &reply.patch {
        Patch::Arp(bytes) => ctx.store(l3 + ARP_PATCH_AT, bytes, flags),
        Patch::Advertisement {
            addresses,
            icmp,
            option,
        } => ctx
            .store(l3 + ND_ADDRESSES_AT, addresses, flags)
            .and_then(|()| ctx.store(l3 + ND_ICMP_AT, icmp, flags))
            .and_then(|()| ctx.store(l3 + ND_OPTION_AT, option, flags)),
    }
    .map_err(|_| ())?;
    // SAFETY: `skb` is the program's context pointer.
    match unsafe { bpf_skb_change_type(ctx.skb.skb, PACKET_HOST) } {
        0 => Ok(()),
        _ => Err(()),
    }
}
