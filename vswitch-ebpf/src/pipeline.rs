//! The stages every received frame goes through, whichever hook it arrived at: port lookup,
//! parsing, VLAN classification, learning and the forwarding decision.

use aya_ebpf::{EbpfContext, bindings::BPF_NOEXIST, helpers::bpf_ktime_get_coarse_ns};
use aya_log_ebpf::debug;
use vswitch_common::{
    budget::{Accounting, NO_SLOT, TOTAL_SLOT, accounting},
    fdb::{self, FdbEntry, FdbKey, Learning, Location},
    flood_group::Arrival,
    flow_cache::{destination_valid_until, source_valid_until},
    forward::{self, Verdict},
    frame::{self, Frame, L2Header},
    mac,
    port::{PORT_F_LEARNING, PORT_F_LOCKED, PortConfig},
    source,
    stats::DropReason,
    switch::SwitchConfig,
    vxlan::Vtep,
};

use crate::{
    budget, counters, flow_cache,
    maps::{FDB, FLOOD_BUCKETS, PORTS, SWITCH},
};

/// Where a frame that passed the ingress stages goes: a [`Verdict`] other than a drop.
#[derive(Clone, Copy)]
pub enum Route {
    /// To the one port with this ifindex.
    Forward {
        /// The egress port's ifindex.
        ifindex: u32,
    },
    /// Through the tunnel of the frame's VLAN, to this remote VTEP.
    Tunnel {
        /// The remote VTEP.
        remote: Vtep,
    },
    /// To every other port of the frame's VLAN (and to the tunnel's remote VTEPs, unless the
    /// frame came from the tunnel).
    Flood {
        /// How the frame arrived, for the plain flood group that sends it unchanged (`None`
        /// for a priority-tagged frame, which every port changes).
        arrival: Option<Arrival>,
    },
}

/// A frame that passed the ingress stages, with what to do with it.
pub struct Decision {
    /// The ingress port's configuration.
    pub port: &'static PortConfig,
    /// The VLAN the frame belongs to.
    pub vlan: u16,
    /// The priority bits of the tag the frame arrived with (`Tag::priority`), which every tag
    /// written on egress carries.
    pub priority: u16,
    /// Where it goes.
    pub route: Route,
    /// For a frame to one local port: until when (coarse monotonic nanoseconds) the decision
    /// holds while no map changes, for the flow cache; 0 where it must not be cached.
    pub valid_until_ns: u64,
    /// Whether the frame was decapsulated from a tunnel: it is then never sent back into the
    /// overlay.
    pub from_overlay: bool,
    /// Whether the skb's protocol matches the frame. Only a decapsulated ARP frame (or an IP
    /// one of the other family than the underlay's, before Linux 6.3) keeps the outer header's:
    /// it must then be delivered with `bpf_redirect`, through the receiving device's
    /// `eth_type_trans`, not straight into a peer's stack.
    pub protocol_set: bool,
}

/// The time learning, ageing and the storm buckets compare with: the coarse clock
/// (`CLOCK_MONOTONIC_COARSE`, a tick behind at most) is all they need, and it does not read the
/// TSC, which costs a quarter of the XDP path in a VM. Read once per frame, by the hook.
#[inline(always)]
pub fn now_ns() -> u64 {
    // SAFETY: a helper without arguments.
    unsafe { bpf_ktime_get_coarse_ns() }
}

/// Runs the ingress stages for a frame of `len` bytes received on `ifindex` at `now_ns`
/// ([`now_ns`]).
///
/// Counts the frame as received, any drop under its reason, and any learned address.
/// Returns `Err` when the frame must be dropped.
#[inline(always)]
pub fn ingress<C: EbpfContext, F: Frame>(
    ctx: &C,
    frame: &F,
    ifindex: u32,
    len: u64,
    now_ns: u64,
) -> Result<Decision, ()> {
    // SAFETY: the controller writes PORTS under its RCU-barrier discipline, so the entry is the
    // old or the new one for as long as this program runs (see `maps::PORTS`).
    let Some(port) = (unsafe { PORTS.get(ifindex) }) else {
        counters::received(counters::NOT_A_PORT_SLOT, len);
        counters::dropped(counters::NOT_A_PORT_SLOT, DropReason::NotAPort);
        return Err(());
    };
    switch(ctx, frame, port, Location::port(ifindex), len, now_ns)
}

/// Runs the ingress stages for a frame of `len` bytes decapsulated from the tunnel whose port
/// is `port`, at `location`: the underlay it arrived on and the VTEP that sent it.
#[inline(always)]
pub fn from_tunnel<C: EbpfContext, F: Frame>(
    ctx: &C,
    frame: &F,
    port: &'static PortConfig,
    location: Location,
    len: u64,
) -> Result<Decision, ()> {
    let mut decision = switch(ctx, frame, port, location, len, now_ns())?;
    decision.from_overlay = true;
    Ok(decision)
}

#[inline(always)]
fn switch<C: EbpfContext, F: Frame>(
    ctx: &C,
    frame: &F,
    port: &'static PortConfig,
    location: Location,
    len: u64,
    now_ns: u64,
) -> Result<Decision, ()> {
    counters::received(port.slot, len);
    match classify(frame, port, location, now_ns) {
        Ok(decision) => Ok(decision),
        Err(reason) => {
            counters::dropped(port.slot, reason);
            debug!(
                ctx,
                "vswitch: drop on ifindex {}: reason {}", location.ifindex, reason as u32
            );
            Err(())
        }
    }
}

#[inline(always)]
fn classify<F: Frame>(
    frame: &F,
    port: &'static PortConfig,
    location: Location,
    now_ns: u64,
) -> Result<Decision, DropReason> {
    port.receives()?;
    let header = frame::parse(frame)?;
    // Taken at once: kept alive across the stages below, the tag's payload (undefined when the
    // frame is untagged) ends up spilled to the stack, which the verifier refuses.
    let priority = header.tag.priority();
    let vlan = port.ingress_vlan(header.tag.tci())?;
    let arrival = Arrival::of(header.tag, vlan);
    let switch = SWITCH.get(0);
    let ageing_ns = switch.map_or(SwitchConfig::DEFAULT_AGEING_NS, |switch| switch.ageing_ns);
    let mut valid_until_ns = u64::MAX;
    if port.flags & (PORT_F_LEARNING | PORT_F_LOCKED) != 0 {
        let max_macs = switch.map_or(0, |switch| switch.max_macs);
        let clock = Clock {
            now_ns,
            ageing_ns,
            max_macs,
        };
        valid_until_ns = source(port, &header, vlan, location, &clock)?;
    }
    let dst = FdbKey {
        mac: header.dst,
        vlan,
    };
    // Group addresses are flooded whatever the FDB says (`forward::decide`), so they skip the
    // lookup: one hash lookup less on every flood.
    let entry = if mac::is_group(&header.dst) {
        None
    } else {
        // SAFETY: entries are plain data whose fields the datapath updates in place one aligned
        // word at a time (see `learn`), so each field read is the old or the new value.
        unsafe { FDB.get(dst) }
    };
    let route = match forward::decide(location.ifindex, &header.dst, entry, now_ns, ageing_ns) {
        Verdict::Forward { ifindex } => {
            if let Some(entry) = entry {
                let until = destination_valid_until(entry, ageing_ns);
                valid_until_ns = valid_until_ns.min(until);
            }
            Route::Forward { ifindex }
        }
        Verdict::Tunnel { remote } => {
            valid_until_ns = 0;
            Route::Tunnel { remote }
        }
        Verdict::Flood => {
            valid_until_ns = 0;
            if port.flood_pps != 0 {
                storm(port, now_ns)?;
            }
            Route::Flood { arrival }
        }
        Verdict::Drop(reason) => return Err(reason),
    };
    Ok(Decision {
        port,
        vlan,
        priority,
        route,
        valid_until_ns,
        from_overlay: false,
        protocol_set: true,
    })
}

/// Takes a flooded frame from the port's `flood_pps` bucket on this CPU.
#[inline(always)]
fn storm(port: &PortConfig, now_ns: u64) -> Result<(), DropReason> {
    let Some(bucket) = FLOOD_BUCKETS.get_ptr_mut(port.slot) else {
        return Ok(());
    };
    // SAFETY: this CPU's value, which only this program touches, and programs do not nest.
    unsafe { &mut *bucket }.take(port.flood_pps, now_ns)
}

/// The switch-wide settings learning needs, and the time.
struct Clock {
    now_ns: u64,
    ageing_ns: u64,
    /// `[switch] max_macs`, 0 for none.
    max_macs: u32,
}

/// Checks the frame's source address against its FDB entry (locked ports, static stations)
/// and learns it where the port learns. Returns until when the source needs no learning again
/// (`flow_cache::source_valid_until`).
#[inline(always)]
fn source(
    port: &PortConfig,
    header: &L2Header,
    vlan: u16,
    location: Location,
    clock: &Clock,
) -> Result<u64, DropReason> {
    let src = FdbKey {
        mac: header.src,
        vlan,
    };
    // SAFETY: as for the destination lookup.
    let existing = unsafe { FDB.get(src) };
    source::admit(existing, location, port.has(PORT_F_LOCKED))?;
    if !port.has(PORT_F_LEARNING) {
        return Ok(u64::MAX);
    }
    Ok(learn(port, &src, existing, location, clock))
}

/// Learns the source at `location` where learning says so. Returns until when it needs no
/// learning again (`flow_cache::source_valid_until` of the entry as it now is; 0 when learning
/// was refused or failed, so that the next frame tries again).
#[inline(always)]
fn learn(
    port: &PortConfig,
    src: &FdbKey,
    existing: Option<&FdbEntry>,
    location: Location,
    clock: &Clock,
) -> u64 {
    let (learned, held) = match fdb::learn(existing, location, clock.now_ns, clock.ageing_ns) {
        Learning::Unchanged => return source_valid_until(existing),
        Learning::Refreshed(entry) => {
            let entry = entry.counted_in(port.slot);
            let held = rewrite(src, &entry).then_some(entry);
            (false, held)
        }
        // A known station that moved or aged out is rewritten where it is, so that readers on
        // other CPUs never hold a freed element (a replacement would free the old one).
        Learning::Learned(entry) => {
            let entry = entry.counted_in(port.slot);
            let accounting = accounting(existing, port.slot);
            let learned = match accounting {
                Accounting::Held => rewrite(src, &entry),
                Accounting::New | Accounting::Moved { .. }
                    if !within_budget(port, accounting, clock.max_macs) =>
                {
                    false
                }
                Accounting::New => {
                    let inserted = FDB.insert(*src, entry, u64::from(BPF_NOEXIST)).is_ok();
                    if inserted {
                        budget::moved(port.slot, NO_SLOT);
                    }
                    inserted
                }
                Accounting::Moved { from } => {
                    let moved = rewrite(src, &entry);
                    if moved {
                        budget::moved(port.slot, from);
                        if let Some(stats) = counters::of(port.slot) {
                            stats.moved_in += 1;
                        }
                    }
                    moved
                }
            };
            // Decisions cached on every CPU may send frames to where the station was. A new
            // entry changes none: no cached decision read it.
            if learned && existing.is_some() {
                flow_cache::station_moved();
            }
            (learned, learned.then_some(entry))
        }
    };
    if learned && let Some(stats) = counters::of(port.slot) {
        stats.learned += 1;
    }
    source_valid_until(held.as_ref())
}

/// Whether the port may learn one more entry, within its own `max_macs` and (for an entry
/// that takes a place in it) the switch's; counts the refusal if not.
#[inline(always)]
fn within_budget(port: &PortConfig, accounting: Accounting, switch_max_macs: u32) -> bool {
    let port_room = port.max_macs == 0 || budget::may_learn(port.slot, port.max_macs);
    let switch_room = switch_max_macs == 0
        || !accounting.takes_switch_place()
        || budget::may_learn(TOTAL_SLOT, switch_max_macs);
    if port_room && switch_room {
        return true;
    }
    if let Some(stats) = counters::of(port.slot) {
        stats.learn_refused += 1;
    }
    false
}

/// Overwrites the FDB entry of `key` in place, field by field (each an aligned word store, so a
/// concurrent reader sees each field old or new). Whether the entry was still there.
#[inline(always)]
fn rewrite(key: &FdbKey, entry: &FdbEntry) -> bool {
    let Some(slot) = FDB.get_ptr_mut(key) else {
        return false;
    };
    // SAFETY: a live element of the map; plain integer fields.
    unsafe {
        (*slot).remote = entry.remote;
        (*slot).ifindex = entry.ifindex;
        (*slot).flags = entry.flags;
        (*slot).last_seen_ns = entry.last_seen_ns;
    }
    true
}
