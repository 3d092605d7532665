//! The vswitch datapath: program entry points only. The stages live in their own modules and the
//! decisions in `vswitch-common`, which the host tests exercise.
// The BPF atomic add (see `atomic::add`); host builds (clippy) use `core`'s atomics instead.
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(
    target_arch = "bpf",
    expect(
        internal_features,
        reason = "atomic_xadd is the only read-modify-write the BPF target offers"
    )
)]
#![no_std]
#![no_main]

mod atomic;
mod budget;
mod counters;
mod dispatch;
mod flow_cache;
mod frame;
mod maps;
mod object;
mod pipeline;
mod responder;
mod suppress;
mod tc;
mod tunnel;
mod xdp;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};

/// Switches frames that arrive as XDP frames (uplinks, NICs, XDP-redirected traffic).
#[xdp]
pub fn vswitch_xdp(ctx: XdpContext) -> u32 {
    xdp::ingress(&ctx)
}

/// Runs for every frame the XDP path sends to a port: VLAN membership and tagging.
#[xdp(map = "devmap")]
pub fn vswitch_xdp_egress(ctx: XdpContext) -> u32 {
    xdp::egress(&ctx)
}

/// Lets a veth peer accept native XDP redirects; frames go on to its stack unchanged.
///
/// It takes multi-buffer frames (`xdp.frags`): a veth caps the MTU of the other end at 3506
/// while a single-buffer program is attached, which would keep a port's switch-side end from
/// jumbo frames as soon as the switch has an XDP port.
#[xdp(frags)]
pub fn vswitch_xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// Switches frames that containers send, keeping the skb's GSO and checksum state.
#[classifier]
pub fn vswitch_tc(ctx: TcContext) -> i32 {
    tc::ingress(&ctx)
}

/// Answers ARP requests and neighbour solicitations for remote stations the cluster published;
/// tail-called by `vswitch_tc`.
#[classifier]
pub fn vswitch_tc_suppress(ctx: TcContext) -> i32 {
    suppress::answer_or_switch(&ctx)
}

/// Decapsulates the switch's VXLAN frames on an underlay; other traffic goes on to the stack.
#[classifier]
pub fn vswitch_tc_underlay(ctx: TcContext) -> i32 {
    tunnel::underlay_ingress(&ctx)
}

/// Dispatches unicast frames that arrive on a macvlan-style parent to its children.
#[xdp]
pub fn vswitch_dispatch_xdp(ctx: XdpContext) -> u32 {
    dispatch::parent_xdp(&ctx)
}

/// Copies group frames that arrive on a macvlan-style parent to the children that take them.
#[classifier]
pub fn vswitch_dispatch_parent(ctx: TcContext) -> i32 {
    dispatch::parent_tc(&ctx)
}

/// Sends what a macvlan-style child transmits to a sibling or out of its parent.
#[classifier]
pub fn vswitch_dispatch_child(ctx: TcContext) -> i32 {
    dispatch::child_tc(&ctx)
}
