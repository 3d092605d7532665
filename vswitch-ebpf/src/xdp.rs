//! The XDP path: known unicast is tagged at ingress and redirected through `TX_UNICAST`, a
//! devmap without a program; floods go through `TX_PORTS`, whose egress program decides and
//! tags per port.

use aya_ebpf::{
    bindings::{BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, xdp_action},
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_meta},
    programs::XdpContext,
};
use network_types::{eth::EthHdr, vlan::VlanHdr};
use vswitch_common::{
    egress::{self, TagFailed, Tagger},
    flood_note::FloodNote,
    flow_cache::{CachedEgress, CachedFlow, HEAD_LEN},
    frame::{self, Tag},
    port::PortConfig,
    stats::DropReason,
    vlan::ETH_P_8021Q,
};

use crate::{
    counters, flow_cache,
    frame::XdpFrame,
    maps::{FLOOD_GROUPS, FLOOD_PLAIN, PORTS, TX_PORTS, TX_UNICAST},
    pipeline::{self, Route},
};

/// Length of the two addresses that lead every Ethernet header.
const ADDRS_LEN: usize = 12;

/// Switches one frame received on a port: by its flow's cached decision where this CPU holds
/// one that is still valid, otherwise through the full pipeline.
#[inline(always)]
pub fn ingress(ctx: &XdpContext) -> u32 {
    let ifindex = ctx.ingress_ifindex() as u32;
    let len = (ctx.data_end() - ctx.data()) as u64;
    // Read before the pipeline's lookups, so that a decision taken on maps that change
    // meanwhile is cached under the old generation (see `vswitch_common::flow_cache`).
    let generation = flow_cache::generation();
    let now_ns = pipeline::now_ns();
    let head = head(ctx);
    if let Some(head) = &head
        && let Some(flow) = flow_cache::lookup(ifindex, head, generation, now_ns)
    {
        counters::received(flow.in_slot, len);
        if let Err(reason) = flow.egress.action().apply(&mut XdpFrame(ctx)) {
            counters::dropped(flow.in_slot, reason);
            return xdp_action::XDP_DROP;
        }
        return send(ctx, flow.in_slot, flow.out_ifindex, flow.out_slot);
    }
    let Ok(decision) = pipeline::ingress(ctx, &XdpFrame(ctx), ifindex, len, now_ns) else {
        return xdp_action::XDP_DROP;
    };
    let slot = decision.port.slot;
    match decision.route {
        Route::Forward { ifindex: out } => {
            // Tagged here for its one target, then sent through the devmap without a program.
            // SAFETY: see `pipeline::ingress`.
            let target = unsafe { PORTS.get(out) };
            let prepared =
                egress::prepare_as(&mut XdpFrame(ctx), target, decision.vlan, decision.priority);
            let (target, action) = match prepared {
                Ok(prepared) => prepared,
                Err(reason) => {
                    counters::dropped(slot, reason);
                    return xdp_action::XDP_DROP;
                }
            };
            let sent = send(ctx, slot, out, target.slot);
            let cacheable = sent == xdp_action::XDP_REDIRECT && decision.valid_until_ns != 0;
            if let (Some(head), Some(egress), true) = (head, CachedEgress::of(action), cacheable) {
                flow_cache::store(CachedFlow {
                    head,
                    ingress: ifindex,
                    in_slot: slot,
                    out_ifindex: out,
                    out_slot: target.slot,
                    egress,
                    _pad: 0,
                    generation,
                    valid_until_ns: decision.valid_until_ns,
                });
            }
            sent
        }
        // The agent keeps XDP ports out of VLANs that have a tunnel: encapsulation is done on
        // the TCX path only, so no frame that reaches here has a remote destination.
        Route::Tunnel { .. } => {
            counters::dropped(slot, DropReason::VlanEgress);
            xdp_action::XDP_DROP
        }
        Route::Flood { arrival } => {
            if let Some(arrival) = arrival
                && let Some(action) = flood_plain(decision.port, arrival.key(decision.vlan), len)
            {
                return action;
            }
            leave_note(ctx, FloodNote::new(slot, decision.vlan, decision.priority));
            let flags = BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS | xdp_action::XDP_DROP;
            let sent = TX_PORTS.redirect(0, u64::from(flags));
            flooded(slot, sent)
        }
    }
}

/// Sends a frame that is ready for its one target port through `TX_UNICAST`, the devmap
/// without a program, and counts it for the ingress port in `slot` and the target in
/// `out_slot`.
#[inline(always)]
fn send(ctx: &XdpContext, slot: u32, out: u32, out_slot: u32) -> u32 {
    let len = (ctx.data_end() - ctx.data()) as u64;
    match TX_UNICAST.redirect(out, u64::from(xdp_action::XDP_DROP)) {
        Ok(action) => {
            if let Some(stats) = counters::of(slot) {
                stats.forwarded += 1;
            }
            counters::transmitted(out_slot, len);
            action
        }
        Err(action) => {
            counters::dropped(slot, DropReason::HelperFailed);
            action
        }
    }
}

/// The frame's head, which makes its flow for the flow cache; `None` for a frame too short to
/// have one, which the pipeline refuses.
#[inline(always)]
fn head(ctx: &XdpContext) -> Option<[u8; HEAD_LEN]> {
    let start = ctx.data();
    if start + HEAD_LEN > ctx.data_end() {
        return None;
    }
    // SAFETY: the range was checked against `data_end`.
    Some(unsafe { (start as *const [u8; HEAD_LEN]).read_unaligned() })
}

/// Floods a frame through the devmap of its plain flood group `key`, if it has one: every
/// member sends the frame unchanged, so no program runs per copy, and each member's copy is
/// counted here. `None` when the group has no devmap now (the frame then takes `TX_PORTS`).
#[inline(always)]
fn flood_plain(port: &PortConfig, key: u32, len: u64) -> Option<u32> {
    // SAFETY: the controller replaces groups whole under the barrier discipline of `FLOOD`.
    let group = unsafe { FLOOD_GROUPS.get(key) }?;
    // SAFETY: the devmap is only passed to the redirect helper.
    let devmap = unsafe { FLOOD_PLAIN.get(&key) }?;
    let flags = BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS | xdp_action::XDP_DROP;
    let sent = devmap.redirect(0, u64::from(flags));
    if sent.is_ok() {
        for member in group.members.iter().take(group.len as usize) {
            if member.slot != port.slot {
                counters::transmitted(member.slot, len);
            }
        }
    }
    Some(flooded(port.slot, sent))
}

/// Counts the outcome of a flood's broadcast for the ingress port in `slot`.
#[inline(always)]
fn flooded(slot: u32, sent: Result<u32, u32>) -> u32 {
    match sent {
        Ok(action) => {
            if let Some(stats) = counters::of(slot) {
                stats.flooded += 1;
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
/// `vswitch_common::egress::decide` says.
///
/// Only floods come here (unicast leaves through `TX_UNICAST`, tagged at ingress). The frame is
/// the one the ingress program saw: its VLAN and priority come from the note ingress left in
/// its metadata, or, where there was no room for one, are re-derived from the ingress port and
/// the frame's tag. A port that must not carry the frame is one the flood skips.
#[inline(always)]
pub fn egress(ctx: &XdpContext) -> u32 {
    // SAFETY: `ctx` is the program's context pointer.
    let out = unsafe { (*ctx.ctx).egress_ifindex };
    let mut frame = XdpFrame(ctx);
    let note = match read_note(ctx) {
        Some(note) => note,
        None => {
            let ifindex = ctx.ingress_ifindex() as u32;
            // SAFETY: see `pipeline::ingress`.
            let Some(port) = (unsafe { PORTS.get(ifindex) }) else {
                // The ingress port was removed since the ingress program ran.
                counters::dropped(counters::NOT_A_PORT_SLOT, DropReason::NotAPort);
                return xdp_action::XDP_DROP;
            };
            let classified = frame.tag().and_then(|tag| {
                let vlan = port.ingress_vlan(tag.tci())?;
                Ok(FloodNote::new(port.slot, vlan, tag.priority()))
            });
            match classified {
                Ok(note) => note,
                Err(reason) => {
                    counters::flood_skipped(port.slot, reason);
                    return xdp_action::XDP_DROP;
                }
            }
        }
    };
    // SAFETY: see `pipeline::ingress`.
    let target = unsafe { PORTS.get(out) };
    match egress::prepare(&mut frame, target, note.vlan, note.priority) {
        Ok(target) => {
            counters::transmitted(target.slot, (ctx.data_end() - ctx.data()) as u64);
            xdp_action::XDP_PASS
        }
        Err(reason) => {
            counters::flood_skipped(note.slot, reason);
            xdp_action::XDP_DROP
        }
    }
}

/// Puts `note` in the frame's metadata, in place of any metadata it had. Without room for it
/// the metadata stays as it was, and the egress program classifies the frame itself.
#[inline(always)]
fn leave_note(ctx: &XdpContext, note: FloodNote) {
    let size = size_of::<FloodNote>();
    let offset = ctx.data() as i64 - size as i64 - ctx.metadata() as i64;
    // SAFETY: the helper checks the new metadata's bounds.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, offset as i32) } != 0 {
        return;
    }
    let start = ctx.metadata();
    if start + size > ctx.data() {
        return;
    }
    // SAFETY: the range was checked against the frame's start just above.
    unsafe { (start as *mut FloodNote).write_unaligned(note) };
}

/// The note ingress left in the frame's metadata, if the metadata is exactly one of ours.
#[inline(always)]
fn read_note(ctx: &XdpContext) -> Option<FloodNote> {
    let start = ctx.metadata();
    if start + size_of::<FloodNote>() > ctx.data() {
        return None;
    }
    // SAFETY: the range was checked against the frame's start just above.
    let note = unsafe { (start as *const FloodNote).read_unaligned() };
    // Checked after the read: merged with the bound above into one `!=`, the verifier would
    // no longer see the bound.
    let exact = ctx.data() - start == size_of::<FloodNote>();
    (exact && note.is_ours()).then_some(note)
}

/// Tags an XDP frame in its own buffer, where its tag always is.
impl Tagger for XdpFrame<'_> {
    #[inline(always)]
    fn tag(&self) -> Result<Tag, DropReason> {
        frame::outer_tag(self)
    }

    /// Inserts an 802.1Q tag after the addresses.
    #[inline(always)]
    fn push(&mut self, tci: u16) -> Result<(), TagFailed> {
        let ctx = self.0;
        // SAFETY: growing the headroom is checked by the helper's return value.
        if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(VlanHdr::LEN as i32)) } != 0 {
            return Err(TagFailed);
        }
        let data = ctx.data();
        if data + EthHdr::LEN + VlanHdr::LEN > ctx.data_end() {
            return Err(TagFailed);
        }
        let [type_hi, type_lo] = ETH_P_8021Q.to_be_bytes();
        let [tci_hi, tci_lo] = tci.to_be_bytes();
        // SAFETY: the whole range was checked against `data_end`.
        unsafe {
            let addrs = ((data + VlanHdr::LEN) as *const [u8; ADDRS_LEN]).read_unaligned();
            (data as *mut [u8; ADDRS_LEN]).write_unaligned(addrs);
            ((data + ADDRS_LEN) as *mut [u8; 4])
                .write_unaligned([type_hi, type_lo, tci_hi, tci_lo]);
        }
        Ok(())
    }

    #[inline(always)]
    fn pop(&mut self) -> Result<(), TagFailed> {
        let ctx = self.0;
        let data = ctx.data();
        if data + EthHdr::LEN + VlanHdr::LEN > ctx.data_end() {
            return Err(TagFailed);
        }
        // SAFETY: the range was checked against `data_end`.
        unsafe {
            let addrs = (data as *const [u8; ADDRS_LEN]).read_unaligned();
            ((data + VlanHdr::LEN) as *mut [u8; ADDRS_LEN]).write_unaligned(addrs);
        }
        // SAFETY: shrinking by a length known to be inside the frame.
        if unsafe { bpf_xdp_adjust_head(ctx.ctx, VlanHdr::LEN as i32) } != 0 {
            return Err(TagFailed);
        }
        Ok(())
    }

    #[inline(always)]
    fn retag(&mut self, tci: u16) -> Result<(), TagFailed> {
        let at = self.0.data() + EthHdr::LEN;
        if at + 2 > self.0.data_end() {
            return Err(TagFailed);
        }
        // SAFETY: the range was checked against `data_end`.
        unsafe { (at as *mut [u8; 2]).write_unaligned(tci.to_be_bytes()) };
        Ok(())
    }
}
