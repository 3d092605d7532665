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
    frames::{VxlanOuter, ethernet, ipv4_udp, station, tagged},
    fuzz::{
        Action, Rng, Tally, cases, corpus, delta, hostile_frame, hostile_vxlan, judge_switched,
        on_the_wire, only_drop, seed, truncations, write_failure,
    },
    vxlan_maps::{TUNNEL_SLOT, UNDERLAY_SLOT, V4, VNI, tunnel, tunnel_of},
};
use vswitch::{agent::monotonic_ns, config::VlanMode};
use vswitch_common::{
    frame,
    port::PortConfig,
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
        // Stations behind the ports, so that decapsulated unicast is forwarded too.
        for n in 1..=4 {
            fx.learn(station(n), usize::from(n) % 3, monotonic_ns());
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
