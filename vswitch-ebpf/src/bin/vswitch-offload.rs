//! The offloadable part of the vswitch datapath, as its own object: the filter-and-drop stage of
//! `vswitch_common::filter`, for a device to run (XDP `HW_MODE` or tc `skip_sw`).
//!
//! It is a separate object so that loading it device-bound creates only its own map: offloaded
//! programs may use only device-bound hash and array maps, no per-CPU, LRU or devmap maps, and
//! no host-only state such as the FDB. Frames it admits go on to the host, where the switching
//! programs of the main object run; frames it refuses are dropped on the device.
#![no_std]
#![no_main]

#[path = "../frame.rs"]
mod frame;
#[path = "../object.rs"]
mod object;

use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT, xdp_action},
    macros::{classifier, map, xdp},
    maps::Array,
    programs::{TcContext, XdpContext},
};
use vswitch_common::{
    filter::{OFFLOAD_MAP_ENTRIES, admit},
    frame::Frame,
    port::PortConfig,
};

/// The port's configuration at index 0, written by the controller.
#[map]
static OFFLOAD_FILTER: Array<PortConfig> = Array::with_max_entries(OFFLOAD_MAP_ENTRIES, 0);

/// Whether the frame passes the filter. Without a configuration, everything passes.
#[inline(always)]
fn passes<F: Frame>(frame: &F) -> bool {
    OFFLOAD_FILTER
        .get(0)
        .is_none_or(|port| admit(frame, port).is_ok())
}

/// XDP offload: drops what the port would refuse, passes the rest to the host.
#[xdp]
pub fn vswitch_offload_xdp(ctx: XdpContext) -> u32 {
    if passes(&frame::XdpFrame(&ctx)) {
        xdp_action::XDP_PASS
    } else {
        xdp_action::XDP_DROP
    }
}

/// tc (cls_bpf, direct action) offload: the same filter at the ingress classifier.
#[classifier]
pub fn vswitch_offload_tc(ctx: TcContext) -> i32 {
    if passes(&frame::SkbFrame::<false>(&ctx)) {
        TC_ACT_OK
    } else {
        TC_ACT_SHOT
    }
}
