//! Benchmark-only programs: the live-frames traffic generator, the sinks and stubs that the
//! benchmark harness (`cargo xtask bench`) attaches around the switch under test, and the plain
//! XDP and TCX forwarders it is measured against. This is a separate object; the switch never
//! loads it.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, TC_ACT_OK, TC_ACT_SHOT, xdp_action},
    helpers::{bpf_get_prandom_u32, bpf_redirect_peer},
    macros::{classifier, map, xdp},
    maps::{Array, DevMapHash, HashMap, PerCpuArray},
    programs::{TcContext, XdpContext},
};

/// Offset of the UDP destination port in an untagged IPv4 frame without options.
const UDP_DESTINATION_PORT: usize = 14 + 20 + 2;
/// The generators send to UDP port 9 (discard).
const DISCARD: u16 = 9;
/// Offset of the IP protocol field.
const IP_PROTOCOL: usize = 14 + 9;

/// Offset of the UDP source port in an untagged IPv4 frame without options.
const UDP_SOURCE_PORT: usize = 14 + 20;
/// Generated frames spread over this many UDP source ports (flows), from `FLOW_BASE`.
const FLOWS: u32 = 1024;
/// The lowest UDP source port of the generated flows.
const FLOW_BASE: u32 = 10_000;

/// Length of the generated frames.
const FRAME_LEN: usize = 64;

/// The frame the generator sends, written by the harness. Copied into every frame: in
/// live-frames mode the kernel recycles pages without restoring their contents, and a switch
/// that pushed a VLAN tag into the same page would otherwise leave a shifted header behind.
#[map]
static TG_FRAME: Array<[u8; FRAME_LEN]> = Array::with_max_entries(1, 0);

/// How many distinct source addresses the generator cycles through (index 0; 0 keeps the
/// template's) and the number of the first (index 1). The address learning measurement sets
/// them.
#[map]
static TG_SOURCES: Array<u32> = Array::with_max_entries(2, 0);

/// The generator's position in that cycle, per CPU.
#[map]
static TG_SEQUENCE: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// The first two bytes of the cycled source addresses (locally administered unicast); the
/// other four are the position in the cycle.
const SOURCE_PREFIX: [u8; 2] = [0x0a, 0x1e];

/// Where the plain XDP redirect sends frames: ingress ifindex to egress ifindex.
#[map]
static TG_PORTS: DevMapHash = DevMapHash::with_max_entries(16, 0);

/// Where the plain XDP broadcast sends a copy of every frame.
#[map]
static TG_BROADCAST: DevMapHash = DevMapHash::with_max_entries(128, 0);

/// Where the plain TCX forwarder sends frames: ingress ifindex to the ifindex of the veth whose
/// peer (in another namespace) receives them.
#[map]
static TG_PEERS: HashMap<u32, u32> = HashMap::with_max_entries(16, 0);

/// Run by `BPF_PROG_TEST_RUN` in live-frames mode: writes the frame from `TG_FRAME` with a
/// pseudo-random UDP source port (the UDP checksum is zero, so nothing else changes) and
/// transmits it out of the ingress interface.
#[xdp]
pub fn trafficgen_tx(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + FRAME_LEN > ctx.data_end() {
        return xdp_action::XDP_ABORTED;
    }
    let Some(template) = TG_FRAME.get(0) else {
        return xdp_action::XDP_ABORTED;
    };
    // SAFETY: bounds checked above against `data_end`; the template is a map value.
    unsafe { (start as *mut [u8; FRAME_LEN]).write_unaligned(*template) };
    // SAFETY: a helper without arguments.
    let flow = FLOW_BASE + unsafe { bpf_get_prandom_u32() } % FLOWS;
    let at = (start + UDP_SOURCE_PORT) as *mut [u8; 2];
    // SAFETY: within the bounds checked above.
    unsafe { at.write_unaligned((flow as u16).to_be_bytes()) };
    if let (Some(&sources), Some(&first), Some(position)) = (
        TG_SOURCES.get(0),
        TG_SOURCES.get(1),
        TG_SEQUENCE.get_ptr_mut(0),
    ) && sources != 0
    {
        // SAFETY: this CPU's value; programs do not nest.
        let n = unsafe { *position };
        // SAFETY: as above.
        unsafe { *position = if n + 1 >= sources { 0 } else { n + 1 } };
        let [a, b, c, d] = first.wrapping_add(n).to_be_bytes();
        let source = [SOURCE_PREFIX[0], SOURCE_PREFIX[1], a, b, c, d];
        // SAFETY: within the bounds checked above (the source address is bytes 6 to 11).
        unsafe { ((start + 6) as *mut [u8; 6]).write_unaligned(source) };
    }
    xdp_action::XDP_TX
}

/// A sink: counts (the interface's rx_packets) and drops.
#[xdp]
pub fn trafficgen_drop(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_DROP
}

/// The sink of stack-sourced frames, at tc ingress: drops the generators' UDP frames to the
/// discard port once they have been counted in rx_packets; everything else (ping, TCP, ARP)
/// goes on to the stack.
#[classifier]
pub fn trafficgen_sink(ctx: TcContext) -> i32 {
    let generated = ctx
        .load::<[u8; 2]>(12)
        .is_ok_and(|ethertype| ethertype == [0x08, 0x00])
        && ctx
            .load::<u8>(IP_PROTOCOL)
            .is_ok_and(|protocol| protocol == 17)
        && ctx
            .load::<[u8; 2]>(UDP_DESTINATION_PORT)
            .is_ok_and(|port| port == DISCARD.to_be_bytes());
    if generated { TC_ACT_SHOT } else { TC_ACT_OK }
}

/// Lets a veth accept native XDP redirects and passes frames on to the stack.
#[xdp]
pub fn trafficgen_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// The plain XDP forwarder, the limit a switch is measured against: redirects every frame to
/// the interface `TG_PORTS` maps its ingress interface to.
#[xdp]
pub fn trafficgen_redirect(ctx: XdpContext) -> u32 {
    let ingress = ctx.ingress_ifindex() as u32;
    TG_PORTS
        .redirect(ingress, u64::from(xdp_action::XDP_DROP))
        .unwrap_or(xdp_action::XDP_DROP)
}

/// The plain XDP flood, the limit a switch's flood is measured against: a copy of every frame
/// to each interface in `TG_BROADCAST` but the one it came in on.
#[xdp]
pub fn trafficgen_broadcast(_ctx: XdpContext) -> u32 {
    TG_BROADCAST
        .redirect(
            0,
            u64::from(BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS | xdp_action::XDP_DROP),
        )
        .unwrap_or(xdp_action::XDP_DROP)
}

/// The plain TCX forwarder, the limit of the container path: hands every frame straight to the
/// ingress of the peer of the veth that `TG_PEERS` maps its ingress interface to, with
/// `bpf_redirect_peer`, and takes no decision.
#[classifier]
pub fn trafficgen_redirect_peer(ctx: TcContext) -> i32 {
    // SAFETY: the context's own socket buffer.
    let ingress = unsafe { (*ctx.skb.skb).ifindex };
    // SAFETY: a read of a plain value that no program writes.
    match unsafe { TG_PEERS.get(ingress) } {
        Some(&to) => {
            // SAFETY: a plain helper call on an ifindex.
            let action = unsafe { bpf_redirect_peer(to, 0) };
            action as i32
        }
        None => TC_ACT_SHOT,
    }
}

// Host builds (clippy over the workspace) take std's panic handler; this object links nothing
// that would bring it in.
#[cfg(not(target_arch = "bpf"))]
extern crate std;

#[path = "../object.rs"]
mod object;
