//! Fuzzing the datapath through BPF_PROG_TEST_RUN: hostile frames into the real programs.
//!
//! Each program gets its regression corpus (`tests/corpus/<program>/*.bin`), every truncation
//! of valid frames, and generated cases (see `tests::fuzz`: random bytes, cut and bit-flipped
//! frames, bad ethertypes, stacked 802.1Q/802.1ad tags, jumbo and runt frames, ARP with lies,
//! bogus VXLAN headers). For every frame the program ran on:
//! - it returns one of the actions it may return;
//! - a frame that the host-side decision logic (`vswitch_common`) finds malformed or not
//!   allowed in is dropped and counted under that very reason;
//! - it is counted received exactly once, and then forwarded, flooded, passed or dropped
//!   under one reason, so the outcomes add up to the frames sent.

use tests::{
    datapath::{Fixture, with_datapath},
    dispatch_maps::{
        CHILD_IPS, CHILD_IPS6, CHILD_MACS, Configured, OUTSIDE, OUTSIDE_IP, OUTSIDE_IP6,
        PARENT_MAC, PARENT_SLOT, parent,
    },
    frames::{VxlanOuter, ethernet, ipv4_udp, station, tagged},
    fuzz::{
        Action, Rng, Tally, cases, corpus, delta, hostile_frame, hostile_vxlan, judge_switched,
        on_the_wire, only_drop, seed, truncations, write_failure,
    },
    resolution::{arp_request, solicitation},
    vxlan_maps::{TUNNEL_SLOT, UNDERLAY_SLOT, V4, VNI, tunnel, tunnel_of},
};
use vswitch::config::VlanMode;
use vswitch_common::{
    dispatch::{self, Arrival as DispatchArrival, Child, MAX_CHILDREN, Mode, Parent},
    fdb::{FdbEntry, FdbKey, Location},
    frame,
    mac::{self, MacAddr},
    port::{Egress, PortConfig},
    program_names,
    stats::{DropReason, PortStats},
    vxlan::{self, Arrival},
};

/// The shortest Ethernet frame without its FCS.
const ETH_ZLEN: usize = 60;

/// Whether `BPF_PROG_TEST_RUN` builds a context for `frame` (it refuses the others before the
/// program runs, as measured on Linux 6.18): an XDP frame needs an Ethernet header; a socket
/// buffer also fits in a page with the kernel's head and tail room (3500 bytes do, 3800 do
/// not) and holds the whole IP header its ethertype announces.
fn kernel_takes(skb: bool, frame: &[u8]) -> bool {
    let needed = match frame.get(12..14) {
        Some([0x08, 0x00]) if skb => 34,
        Some([0x86, 0xdd]) if skb => 54,
        _ => 14,
    };
    frame.len() >= needed && (!skb || frame.len() <= 3500)
}

/// `p1` an access port of VLAN 1, `p2` a trunk of VLANs 10 and 20 with native VLAN 1, `p3` an
/// access port of VLAN 10: tagged and untagged frames are both allowed somewhere.
fn ports() -> [VlanMode; 3] {
    [
        VlanMode::Access(1),
        VlanMode::Trunk {
            vlans: vec![10, 20],
            native: Some(1),
        },
        VlanMode::Access(10),
    ]
}

/// A port hook under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hook {
    Xdp,
    Tc,
}

impl Hook {
    const fn program(self) -> &'static str {
        match self {
            Self::Xdp => program_names::XDP_INGRESS,
            Self::Tc => program_names::TC_INGRESS,
        }
    }
}

/// A failed invariant: the case is written out, and the test fails saying how to replay it.
fn fail(program: &str, label: &str, bytes: &[u8], why: &str) -> ! {
    let path = write_failure(program, label, bytes);
    panic!(
        "{program}: {label}: {why}\n  frame {bytes:02x?}\n  written to {}: copy it into \
         tests/corpus/{program}/ to keep it as a regression case",
        path.display()
    );
}

/// The counters of `slot`.
fn counters(fx: &Fixture, slot: u32) -> PortStats {
    fx.maps.port_stats(slot).expect("reading counters")
}

/// Where a frame enters: a port (0-based), or the loopback, which is no port.
#[derive(Clone, Copy)]
enum Ingress {
    Port(usize),
    NotAPort,
}

/// Runs one frame through a port hook and checks it; records its outcome in `tally`.
fn port_case(
    fx: &mut Fixture,
    hook: Hook,
    ingress: Ingress,
    bytes: &[u8],
    label: &str,
    tally: &mut Tally,
) {
    let program = hook.program();
    let (ifindex, slot, config): (u32, u32, Option<PortConfig>) = match ingress {
        Ingress::Port(n) => (fx.ifindex(n), fx.ports[n].slot, Some(fx.ports[n].config())),
        Ingress::NotAPort => (1, 0, None),
    };
    let before = counters(fx, slot);
    let result = match hook {
        Hook::Xdp => fx
            .try_xdp_program(program, ifindex, bytes)
            .map(Action::of_xdp),
        Hook::Tc => fx
            .try_tc_out(program, ifindex, bytes)
            .map(|(value, _)| Action::of_tc(value)),
    };
    let action = match result {
        Ok(Some(action)) => action,
        Ok(None) => fail(program, label, bytes, "an unexpected action"),
        Err(_) if !kernel_takes(hook == Hook::Tc, bytes) => {
            tally.refused += 1;
            return;
        }
        Err(error) => fail(program, label, bytes, &format!("test run failed: {error}")),
    };
    let moved = delta(&counters(fx, slot), &before);
    let expected = match config {
        None => Some(DropReason::NotAPort),
        Some(port) => frame::parse(bytes)
            .and_then(|header| port.ingress_vlan(header.tag.tci()))
            .err(),
    };
    match judge_switched(action, &moved, expected, hook == Hook::Tc) {
        Ok(outcome) => tally.record(outcome),
        Err(why) => fail(program, label, bytes, &why),
    }
}

/// Valid frames whose every truncation is sent: untagged, tagged, 802.1ad over 802.1Q, IPv4.
fn templates() -> Vec<Vec<u8>> {
    let mut stacked = tagged(station(2), station(1), 10, 3);
    stacked.splice(12..12, [0x88, 0xa8, 0x00, 0x14]);
    vec![
        ethernet(station(2), station(1), 1),
        tagged(station(2), station(1), 10, 2),
        stacked,
        ipv4_udp(station(2), station(1), 4),
    ]
}

fn fuzz_ports(hook: Hook) {
    with_datapath(ports(), |fx| {
        let program = hook.program();
        let seed = seed();
        let mut tally = Tally::default();
        for (path, bytes) in corpus(program) {
            let label = path.display().to_string();
            for n in 0..3 {
                port_case(fx, hook, Ingress::Port(n), &bytes, &label, &mut tally);
            }
        }
        for (index, template) in templates().iter().enumerate() {
            for cut in truncations(template) {
                let label = format!("template{index}-cut{}", cut.len());
                for n in 0..3 {
                    port_case(fx, hook, Ingress::Port(n), cut, &label, &mut tally);
                }
            }
        }
        let mut rng = Rng::new(seed);
        for case in 0..cases() {
            let bytes = hostile_frame(&mut rng);
            let ingress = match rng.below(10) {
                0 => Ingress::NotAPort,
                n => Ingress::Port(n % 3),
            };
            let label = format!("seed{seed}-case{case}");
            port_case(fx, hook, ingress, &bytes, &label, &mut tally);
        }
        tally.report(program);
    });
}

#[test]
fn xdp_port_survives_hostile_frames() {
    fuzz_ports(Hook::Xdp);
}

#[test]
fn tcx_port_survives_hostile_frames() {
    fuzz_ports(Hook::Tc);
}

/// Runs one frame through the underlay program and checks it against `vxlan::arrival` and
/// `vxlan::admit`; records its outcome in `tally`.
fn underlay_case(fx: &mut Fixture, bytes: &[u8], label: &str, tally: &mut Tally) {
    let program = program_names::TC_UNDERLAY;
    let tunnel = tunnel_of(fx.underlay, V4);
    let before = (counters(fx, UNDERLAY_SLOT), counters(fx, TUNNEL_SLOT));
    let action = match fx.try_tc_out(program, fx.underlay, bytes) {
        Ok((value, _)) => match Action::of_tc(value) {
            Some(action) => action,
            None => fail(program, label, bytes, "an unexpected action"),
        },
        Err(_) if !kernel_takes(true, bytes) => {
            tally.refused += 1;
            return;
        }
        Err(error) => fail(program, label, bytes, &format!("test run failed: {error}")),
    };
    let underlay = delta(&counters(fx, UNDERLAY_SLOT), &before.0);
    let inner = delta(&counters(fx, TUNNEL_SLOT), &before.1);
    let admitted = match vxlan::arrival(bytes, tunnel.dstport) {
        Arrival::Pass => Err(None),
        Arrival::Drop(reason) => Err(Some(reason)),
        Arrival::Vxlan(received) => {
            let known = (received.vni == VNI).then_some(&tunnel);
            vxlan::admit(&received, known)
                .map(|_| received.outer_len)
                .map_err(Some)
        }
    };
    let judged = match admitted {
        Err(None) if action == Action::Pass && underlay.rx_packets + inner.rx_packets == 0 => {
            Ok("passed")
        }
        Err(None) => Err(format!("not VXLAN, yet {action:?} and counted")),
        Err(Some(reason))
            if action == Action::Drop
                && underlay.rx_packets == 1
                && only_drop(&underlay) == Some(reason)
                && inner.rx_packets == 0 =>
        {
            Ok(reason.name())
        }
        Err(Some(reason)) => Err(format!(
            "expected a drop as {}, got {action:?} with underlay drops {:?}",
            reason.name(),
            underlay.drops
        )),
        Ok(_) if underlay.rx_packets != 0 => Err("admitted, yet counted on the underlay".into()),
        Ok(outer_len) => {
            // Decapsulation pads a short inner frame to the minimum Ethernet length, as a
            // sender's NIC would have.
            let mut padded = bytes[outer_len..].to_vec();
            padded.resize(padded.len().max(ETH_ZLEN), 0);
            let expected = frame::parse(padded.as_slice())
                .and_then(|header| tunnel.port.ingress_vlan(header.tag.tci()))
                .err();
            judge_switched(action, &inner, expected, true)
        }
    };
    match judged {
        Ok(outcome) => tally.record(outcome),
        Err(why) => fail(program, label, bytes, &why),
    }
}

#[test]
fn underlay_survives_hostile_vxlan_frames() {
    with_datapath(ports(), |fx| {
        tunnel(fx, V4);
        // Static stations behind the ports, so that decapsulated unicast is forwarded too
        // (inner sources from the overlay would move learned ones onto the underlay).
        for n in 1..=4 {
            let location = Location::port(fx.ifindex(usize::from(n) % 3));
            let key = FdbKey {
                mac: station(n),
                vlan: 1,
            };
            fx.maps.set_fdb(key, FdbEntry::fixed(location)).unwrap();
        }
        let program = program_names::TC_UNDERLAY;
        let seed = seed();
        let mut tally = Tally::default();
        for (path, bytes) in corpus(program) {
            underlay_case(fx, &bytes, &path.display().to_string(), &mut tally);
        }
        let valid = VxlanOuter {
            src: on_the_wire(V4.remotes[0], false),
            dst: on_the_wire(V4.local, false),
            v6: false,
            dstport: 4789,
            header: VxlanOuter::header(VNI),
        }
        .wrap(&ethernet(station(2), station(1), 1));
        for cut in truncations(&valid) {
            underlay_case(fx, cut, &format!("vxlan-cut{}", cut.len()), &mut tally);
        }
        let mut rng = Rng::new(seed);
        for case in 0..cases() {
            let bytes = if rng.chance(90) {
                hostile_vxlan(&mut rng, V4.local, false, 4789, VNI)
            } else {
                hostile_frame(&mut rng)
            };
            underlay_case(fx, &bytes, &format!("seed{seed}-case{case}"), &mut tally);
        }
        tally.report(program);
    });
}

/// Runs one frame through a dispatch program: `DISPATCH_XDP` or `DISPATCH_PARENT` on the
/// parent, or `DISPATCH_CHILD` on `from` (a child, or a port that is no child); checks it
/// against `vswitch_common::dispatch` and records its outcome in `tally`.
fn dispatch_case(
    fx: &mut Fixture,
    program: &'static str,
    children: [Child; 2],
    from: u32,
    bytes: &[u8],
    label: &str,
    tally: &mut Tally,
) {
    let child = children.iter().find(|child| child.ifindex == from).copied();
    let slot = match (program == program_names::DISPATCH_CHILD, child) {
        (false, _) => PARENT_SLOT,
        (true, Some(child)) => child.slot,
        (true, None) => 0,
    };
    let before = counters(fx, slot);
    let result = if program == program_names::DISPATCH_XDP {
        fx.try_xdp_program(program, from, bytes).map(Action::of_xdp)
    } else {
        fx.try_tc_out(program, from, bytes)
            .map(|(value, _)| Action::of_tc(value))
    };
    let action = match result {
        Ok(Some(action)) => action,
        Ok(None) => fail(program, label, bytes, "an unexpected action"),
        Err(_) if !kernel_takes(program != program_names::DISPATCH_XDP, bytes) => {
            tally.refused += 1;
            return;
        }
        Err(error) => fail(program, label, bytes, &format!("test run failed: {error}")),
    };
    let moved = delta(&counters(fx, slot), &before);
    let lookup = Configured {
        children,
        frame: bytes,
    };
    let dst: MacAddr = bytes[..6].try_into().expect("an Ethernet header");
    let src: MacAddr = bytes[6..12].try_into().expect("an Ethernet header");
    let helper_failed = only_drop(&moved) == Some(DropReason::HelperFailed);
    let judged = match program {
        program_names::DISPATCH_XDP => {
            let mode = children[0].mode;
            let mut parent = Parent {
                slot: PARENT_SLOT,
                mode,
                passthru: 0,
                len: 2,
                children: [0; MAX_CHILDREN],
            };
            if mode == Mode::Passthru as u32 {
                parent.passthru = children[0].ifindex;
            }
            match (dispatch::arrival(&parent, &dst, &src, &&lookup), action) {
                (_, _) if moved.rx_packets != 1 => Err("received not counted once".to_string()),
                (DispatchArrival::Child(_), Action::Redirect) if moved.forwarded == 1 => {
                    Ok("forwarded")
                }
                (DispatchArrival::Child(_), Action::Drop) if helper_failed => Ok("helper_failed"),
                // Group frames, answered ones included, are the TCX program's.
                (
                    DispatchArrival::Flood | DispatchArrival::Pass | DispatchArrival::Answer { .. },
                    Action::Pass,
                ) if moved.forwarded + moved.total_drops() == 0 => Ok("passed"),
                (arrival, action) => Err(format!("{arrival:?} ended as {action:?}, {moved:?}")),
            }
        }
        program_names::DISPATCH_PARENT => {
            let parent = Parent {
                slot: PARENT_SLOT,
                mode: children[0].mode,
                passthru: 0,
                len: 2,
                children: [0; MAX_CHILDREN],
            };
            let group = mac::is_group(&dst);
            let answered = group
                && matches!(
                    dispatch::arrival(&parent, &dst, &src, &&lookup),
                    DispatchArrival::Answer { .. }
                );
            match action {
                // An ipvlan L3 parent answers address resolution for its children itself.
                Action::Redirect if answered && moved.answered == 1 => Ok("answered"),
                Action::Drop if answered && helper_failed => Ok("helper_failed"),
                // Copies go to the children; the frame itself goes on to the parent's stack.
                Action::Pass if !answered && moved.forwarded + moved.answered == 0 => Ok("passed"),
                action => Err(format!("{action:?} (answered: {answered}), {moved:?}")),
            }
        }
        _ => match (child, action) {
            (_, _) if moved.rx_packets != 1 => Err("received not counted once".to_string()),
            (None, Action::Drop) if only_drop(&moved) == Some(DropReason::NotAPort) => {
                Ok("not_a_port")
            }
            (Some(_), Action::Redirect) if moved.answered == 1 && moved.forwarded == 0 => {
                Ok("answered")
            }
            (Some(_), Action::Redirect) if moved.forwarded == 1 && moved.total_drops() == 0 => {
                Ok(if moved.flooded == 1 {
                    "flooded"
                } else {
                    "forwarded"
                })
            }
            (Some(_), Action::Drop) if moved.forwarded == 0 => match only_drop(&moved) {
                Some(reason) => Ok(reason.name()),
                None => Err(format!("dropped, counted as {:?}", moved.drops)),
            },
            (_, action) => Err(format!("{action:?}, {moved:?}")),
        },
    };
    match judged {
        Ok(outcome) => tally.record(outcome),
        Err(why) => fail(program, label, bytes, &why),
    }
}

/// A frame for the dispatch programs: mostly to and from the children's, the parent's and the
/// outside station's addresses (IPv4 to the ipvlan children's addresses among them), else any
/// hostile frame.
fn dispatch_frame(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = if rng.chance(50) {
        ipv4_udp(station(2), station(1), rng.next_u64() as u32)
    } else {
        hostile_frame(rng)
    };
    if bytes.len() >= 12 && rng.chance(70) {
        let known = [CHILD_MACS[0], CHILD_MACS[1], PARENT_MAC, OUTSIDE, [0xff; 6]];
        bytes[..6].copy_from_slice(&rng.pick(&known));
        bytes[6..12].copy_from_slice(&rng.pick(&known));
    }
    if bytes.len() >= 34 && rng.chance(50) {
        bytes[30..34].copy_from_slice(&rng.pick(&CHILD_IPS));
    }
    // Address resolution for the children, from the outside or a child, which an ipvlan L3
    // switch answers; sometimes with a lie or a cut.
    if rng.chance(20) {
        let sender = rng.pick(&[OUTSIDE, PARENT_MAC]);
        bytes = if rng.chance(50) {
            arp_request(sender, OUTSIDE_IP, rng.pick(&CHILD_IPS))
        } else {
            solicitation(sender, OUTSIDE_IP6, rng.pick(&CHILD_IPS6))
        };
        if rng.chance(30) {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        if rng.chance(20) {
            bytes.truncate(rng.below(bytes.len()));
        }
    }
    bytes
}

#[test]
fn dispatch_programs_survive_hostile_frames_in_every_mode() {
    with_datapath(ports(), |fx| {
        let seed = seed();
        let mut rng = Rng::new(seed);
        let programs = [
            program_names::DISPATCH_XDP,
            program_names::DISPATCH_PARENT,
            program_names::DISPATCH_CHILD,
        ];
        let mut tallies: Vec<Tally> = programs.iter().map(|_| Tally::default()).collect();
        let modes = [
            Mode::Private,
            Mode::Vepa,
            Mode::Bridge,
            Mode::Passthru,
            Mode::Source,
            Mode::IpvlanL2,
            Mode::IpvlanL3,
        ];
        let corpora: Vec<_> = programs.iter().map(|program| corpus(program)).collect();
        for mode in modes {
            let children = parent(fx, mode);
            let senders = [children[0].ifindex, children[1].ifindex, fx.ifindex(0)];
            for (index, program) in programs.iter().enumerate() {
                for (path, bytes) in &corpora[index] {
                    let from = if index == 2 { senders[0] } else { fx.underlay };
                    let label = path.display().to_string();
                    dispatch_case(
                        fx,
                        program,
                        children,
                        from,
                        bytes,
                        &label,
                        &mut tallies[index],
                    );
                }
            }
            for case in 0..cases() / modes.len() {
                let index = rng.below(programs.len());
                let from = if index == 2 {
                    rng.pick(&senders)
                } else {
                    fx.underlay
                };
                let bytes = dispatch_frame(&mut rng);
                let label = format!("seed{seed}-{mode:?}-case{case}");
                dispatch_case(
                    fx,
                    programs[index],
                    children,
                    from,
                    &bytes,
                    &label,
                    &mut tallies[index],
                );
            }
        }
        for (program, tally) in programs.iter().zip(&tallies) {
            tally.report(program);
        }
    });
}

/// The frames sent to the ports, by port.
fn transmitted(fx: &Fixture) -> Vec<u64> {
    (0..3).map(|port| fx.stats(port).tx_packets).collect()
}

#[test]
fn devmap_egress_never_sends_back_or_out_of_the_vlan() {
    // The devmap egress program runs only for frames the XDP program redirects (the kernel
    // refuses a test run of it alone), so hostile frames go through the XDP program with live
    // frames, and what left each port is read from its counters.
    with_datapath(ports(), |fx| {
        fx.accept_xdp_on_peers();
        let seed = seed();
        let mut rng = Rng::new(seed);
        let (mut sent, mut copies) = (0, 0);
        for case in 0..cases() / 3 {
            let bytes = hostile_frame(&mut rng);
            if !(14..=1500).contains(&bytes.len()) {
                continue;
            }
            let ingress = rng.below(3);
            let config = fx.ports[ingress].config();
            let vlan = frame::parse(bytes.as_slice())
                .and_then(|header| config.ingress_vlan(header.tag.tci()));
            let before = transmitted(fx);
            fx.xdp_live(fx.ifindex(ingress), &bytes);
            sent += 1;
            let after = transmitted(fx);
            for port in 0..3 {
                let left = after[port] - before[port];
                copies += left;
                let member = vlan
                    .is_ok_and(|vlan| fx.ports[port].config().egress(vlan) != Egress::NotMember);
                let why = match () {
                    () if left > 1 => "more than one copy",
                    () if left == 1 && port == ingress => "back out of its ingress port",
                    () if left == 1 && vlan.is_err() => "a frame refused at ingress left",
                    () if left == 1 && !member => "out of a port not in its VLAN",
                    () => continue,
                };
                let label = format!("seed{seed}-case{case}");
                fail(
                    program_names::XDP_EGRESS,
                    &label,
                    &bytes,
                    &format!("port {port}: {why}"),
                );
            }
        }
        eprintln!(
            "{}: {sent} frames through live redirects, {copies} left the ports",
            program_names::XDP_EGRESS
        );
        assert!(copies > 0, "no frame left: the test proves nothing");
    });
}
