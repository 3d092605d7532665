//! BPF_PROG_TEST_RUN of the VXLAN branches on crafted frames: encapsulation (every outer
//! field), head-end replication, decapsulation with learning, split horizon, every malformed
//! case, over IPv4 and IPv6 underlays, and ARP suppression for the cluster's remote stations.
//!
//! The fixture's underlay `u0` carries tunnel VNI 100 for VLAN 1 (local VTEP 192.0.2.1 or
//! fd00::1); the test writes the maps the agent would write, next hops included.

use std::time::Duration;

use tests::{
    datapath::{Fixture, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, access, with_datapath},
    frames::{VxlanOuter, ethernet, has_marker, ipv4_udp, station},
    raw::RawSocket,
    vxlan_maps::{
        Addresses, NEXT_HOP_MAC, UNDERLAY_MAC, UNDERLAY_SLOT, V4, VNI, remote_entry, tunnel,
        tunnel_stats, v6_addresses,
    },
};
use vswitch_common::{
    ipvlan::v4,
    program_names,
    stats::DropReason,
    suppression::NeighbourKey,
    vxlan::{Vtep, vtep_v4},
};

fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Checks every outer field of `out`, an encapsulation of `inner` towards `remote`.
fn assert_encapsulated(out: &[u8], inner: &[u8], addresses: Addresses, remote: Vtep, v6: bool) {
    assert_eq!(&out[0..6], &NEXT_HOP_MAC, "outer destination MAC");
    assert_eq!(&out[6..12], &UNDERLAY_MAC, "outer source MAC");
    let udp = if v6 {
        assert_eq!(&out[12..14], &[0x86, 0xdd]);
        let ip = &out[14..54];
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(
            usize::from(u16::from_be_bytes([ip[4], ip[5]])),
            inner.len() + 16
        );
        assert_eq!((ip[6], ip[7]), (17, 64), "next header UDP, hop limit 64");
        assert_eq!(&ip[8..24], &addresses.local);
        assert_eq!(&ip[24..40], &remote);
        54
    } else {
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        let ip = &out[14..34];
        assert_eq!(ip[0], 0x45);
        assert_eq!(
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
            inner.len() + 36
        );
        assert_eq!(ip[6] & 0x40, 0x40, "DF");
        assert_eq!((ip[8], ip[9]), (64, 17), "TTL 64, UDP");
        assert_eq!(ones_complement_sum(ip), 0xffff, "IPv4 header checksum");
        assert_eq!(&ip[12..16], &addresses.local[12..]);
        assert_eq!(&ip[16..20], &remote[12..]);
        34
    };
    let source_port = u16::from_be_bytes([out[udp], out[udp + 1]]);
    assert!(source_port >= 49152, "source port {source_port}");
    assert_eq!(u16::from_be_bytes([out[udp + 2], out[udp + 3]]), 4789);
    assert_eq!(
        usize::from(u16::from_be_bytes([out[udp + 4], out[udp + 5]])),
        inner.len() + 16
    );
    assert_eq!(&out[udp + 6..udp + 8], &[0, 0], "UDP checksum");
    assert_eq!(&out[udp + 8..udp + 16], &VxlanOuter::header(VNI));
    assert_eq!(&out[udp + 16..], inner, "inner frame");
}

fn encapsulates_unicast(addresses: Addresses, v6: bool) {
    with_datapath(access(), |fx| {
        tunnel(fx, addresses);
        remote_entry(fx, station(9), addresses.remotes[1]);
        for inner in [
            ethernet(station(9), station(1), 1),
            ipv4_udp(station(9), station(1), 2),
        ] {
            let (verdict, out) = fx.tc_out(program_names::TC_INGRESS, fx.ifindex(0), &inner);
            assert_eq!(verdict, TC_ACT_REDIRECT);
            assert_encapsulated(&out, &inner, addresses, addresses.remotes[1], v6);
        }
        assert_eq!(fx.stats(0).forwarded, 2);
        assert_eq!(tunnel_stats(fx).tx_packets, 2);
    });
}

#[test]
fn known_remote_unicast_is_encapsulated_over_ipv4() {
    encapsulates_unicast(V4, false);
}

#[test]
fn known_remote_unicast_is_encapsulated_over_ipv6() {
    encapsulates_unicast(v6_addresses(), true);
}

#[test]
fn flood_reaches_every_remote_exactly_once_and_the_local_ports() {
    with_datapath(access(), |fx| {
        tunnel(fx, V4);
        let capture = RawSocket::open(&fx.peers, "v0");
        let inner = ethernet(station(9), station(1), 7);
        let verdict = fx.tc(fx.ifindex(0), &inner);
        assert_eq!(
            verdict, TC_ACT_SHOT,
            "the original is dropped after its copies"
        );
        assert_eq!(tunnel_stats(fx).tx_packets, 2);
        assert_eq!(fx.stats(1).tx_packets, 1);
        assert_eq!(fx.stats(2).tx_packets, 1);
        let copies = capture.collect(Duration::from_millis(300));
        let mut remotes: Vec<Vec<u8>> = copies
            .iter()
            .filter(|frame| frame.len() == inner.len() + 50 && has_marker(&frame[50..], 7))
            .map(|frame| frame[30..34].to_vec())
            .collect();
        remotes.sort();
        assert_eq!(
            remotes,
            [V4.remotes[0][12..].to_vec(), V4.remotes[1][12..].to_vec()],
            "one copy to each remote VTEP"
        );
    });
}

#[test]
fn a_remote_without_a_next_hop_is_dropped_as_no_route() {
    with_datapath(access(), |fx| {
        tunnel(fx, V4);
        let unresolved = vtep_v4([192, 0, 2, 99]);
        remote_entry(fx, station(9), unresolved);
        let verdict = fx.tc(fx.ifindex(0), &ethernet(station(9), station(1), 1));
        assert_eq!(verdict, TC_ACT_SHOT);
        assert_eq!(fx.stats(0).drops[DropReason::NoRoute as usize], 1);
    });
}

fn outer(addresses: Addresses, v6: bool, from: usize) -> VxlanOuter {
    VxlanOuter {
        src: addresses.remotes[from],
        dst: addresses.local,
        v6,
        dstport: 4789,
        header: VxlanOuter::header(VNI),
    }
}

/// The outer addresses as `VxlanOuter` writes IPv4 ones: in the first four bytes.
fn v4_outer(from: usize) -> VxlanOuter {
    let mut outer = outer(V4, false, from);
    outer.src = [0; 16];
    outer.src[..4].copy_from_slice(&V4.remotes[from][12..]);
    outer.dst = [0; 16];
    outer.dst[..4].copy_from_slice(&V4.local[12..]);
    outer
}

fn decapsulates_and_learns(addresses: Addresses, wrap: VxlanOuter) {
    with_datapath(access(), |fx| {
        tunnel(fx, addresses);
        fx.learn(station(2), 1, vswitch::agent::monotonic_ns());
        let inner = ipv4_udp(station(2), station(9), 3);
        let (verdict, out) = fx.tc_out(program_names::TC_UNDERLAY, fx.underlay, &wrap.wrap(&inner));
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(out, inner, "the inner frame, unchanged");
        let learned = fx.fdb(station(9)).expect("the inner source is learned");
        assert!(learned.is_remote());
        assert_eq!(learned.remote, addresses.remotes[0]);
        assert_eq!(learned.ifindex, fx.underlay);
        assert_eq!(tunnel_stats(fx).rx_packets, 1);
        assert_eq!(fx.stats(1).tx_packets, 1);
        // A short inner frame (an ARP request is 42 bytes) is padded to 60, as on the wire.
        let short = &ethernet(station(2), station(9), 4)[..42];
        let (verdict, out) = fx.tc_out(program_names::TC_UNDERLAY, fx.underlay, &wrap.wrap(short));
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(&out[..42], short);
        assert_eq!(out.len(), 60);
    });
}

#[test]
fn vxlan_over_ipv4_is_decapsulated_and_its_source_learned_behind_the_remote() {
    decapsulates_and_learns(V4, v4_outer(0));
}

#[test]
fn vxlan_over_ipv6_is_decapsulated_and_its_source_learned_behind_the_remote() {
    let addresses = v6_addresses();
    decapsulates_and_learns(addresses, outer(addresses, true, 0));
}

#[test]
fn decapsulated_frames_never_go_back_into_the_overlay() {
    with_datapath(access(), |fx| {
        tunnel(fx, V4);
        // Unknown destination: flooded to the local ports only.
        let flood = v4_outer(0).wrap(&ethernet(station(8), station(9), 5));
        let (verdict, _) = fx.tc_out(program_names::TC_UNDERLAY, fx.underlay, &flood);
        assert_eq!(verdict, TC_ACT_SHOT);
        assert_eq!(tunnel_stats(fx).tx_packets, 0, "no head-end replication");
        assert_eq!(fx.stats(0).tx_packets, 1);
        // A destination behind another remote: split horizon.
        remote_entry(fx, station(7), V4.remotes[1]);
        let across = v4_outer(0).wrap(&ethernet(station(7), station(9), 6));
        let (verdict, _) = fx.tc_out(program_names::TC_UNDERLAY, fx.underlay, &across);
        assert_eq!(verdict, TC_ACT_SHOT);
        assert_eq!(tunnel_stats(fx).drops[DropReason::Hairpin as usize], 1);
        assert_eq!(tunnel_stats(fx).tx_packets, 0);
    });
}

#[test]
fn malformed_and_foreign_vxlan_is_dropped_under_its_reason() {
    with_datapath(access(), |fx| {
        tunnel(fx, V4);
        let inner = ethernet(station(2), station(9), 1);
        let good = v4_outer(0);
        let wrapped = good.wrap(&inner);
        let mut bad_flags = good;
        bad_flags.header[0] = 0x0c;
        let mut reserved = good;
        reserved.header[7] = 1;
        let mut unknown = good;
        unknown.header = VxlanOuter::header(101);
        let mut elsewhere = good;
        elsewhere.dst[3] = 77;
        let cases: [(&str, Vec<u8>, DropReason, u32); 5] = [
            (
                "truncated",
                wrapped[..60].to_vec(),
                DropReason::TruncatedOuter,
                UNDERLAY_SLOT,
            ),
            (
                "flags",
                bad_flags.wrap(&inner),
                DropReason::BadVxlanHeader,
                UNDERLAY_SLOT,
            ),
            (
                "reserved",
                reserved.wrap(&inner),
                DropReason::BadVxlanHeader,
                UNDERLAY_SLOT,
            ),
            (
                "vni",
                unknown.wrap(&inner),
                DropReason::UnknownVni,
                UNDERLAY_SLOT,
            ),
            (
                "local",
                elsewhere.wrap(&inner),
                DropReason::NotLocalVtep,
                UNDERLAY_SLOT,
            ),
        ];
        for (name, frame, reason, slot) in cases {
            let before = fx.maps.port_stats(slot).unwrap().drops[reason as usize];
            let (verdict, _) = fx.tc_out(program_names::TC_UNDERLAY, fx.underlay, &frame);
            assert_eq!(verdict, TC_ACT_SHOT, "{name}");
            let after = fx.maps.port_stats(slot).unwrap().drops[reason as usize];
            assert_eq!(after, before + 1, "{name}: counted under {}", reason.name());
        }
        assert_eq!(
            fx.fdb(station(9)),
            None,
            "nothing learned from refused frames"
        );
        assert_eq!(tunnel_stats(fx).rx_packets, 0);
        // Traffic that is not VXLAN for this switch goes on to the host's stack.
        let mut other_port = good;
        other_port.dstport = 8472;
        let (verdict, _) = fx.tc_out(
            program_names::TC_UNDERLAY,
            fx.underlay,
            &other_port.wrap(&inner),
        );
        assert_eq!(verdict, TC_ACT_OK);
        let (verdict, _) = fx.tc_out(program_names::TC_UNDERLAY, fx.underlay, &inner);
        assert_eq!(verdict, TC_ACT_OK);
        assert_eq!(fx.maps.port_stats(UNDERLAY_SLOT).unwrap().total_drops(), 5);
    });
}

/// The MAC a remote host published for 10.0.0.2.
const REMOTE_STATION: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 2];

/// An ARP request from `station(1)` at 10.0.0.1 for 10.0.0.`target`.
fn arp_request(target: u8) -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&station(1));
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&station(1));
    frame.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, target]);
    frame
}

/// What the agent writes for a cluster record of `REMOTE_STATION` with IP 10.0.0.2 in VLAN 1.
fn remote_neighbour(fx: &mut Fixture) {
    let key = NeighbourKey {
        vlan: 1,
        _pad: 0,
        address: v4([10, 0, 0, 2]),
    };
    fx.maps.set_neighbour(key, REMOTE_STATION).unwrap();
}

#[test]
fn an_arp_request_for_a_remote_station_is_answered_from_the_port_it_came_from() {
    with_datapath(access(), |fx| {
        tunnel(fx, V4);
        remote_neighbour(fx);
        let (verdict, reply) = fx.tc_out(program_names::TC_INGRESS, fx.ifindex(0), &arp_request(2));
        assert_eq!(
            verdict, TC_ACT_REDIRECT,
            "sent back out of the ingress port"
        );
        assert_eq!(&reply[..6], &station(1), "to the requester");
        assert_eq!(&reply[6..12], &REMOTE_STATION);
        assert_eq!(&reply[20..22], &[0, 2], "an ARP reply");
        assert_eq!(&reply[22..28], &REMOTE_STATION, "sender hardware address");
        assert_eq!(&reply[28..32], &[10, 0, 0, 2], "sender protocol address");
        assert_eq!(&reply[32..38], &station(1), "target hardware address");
        assert_eq!(&reply[38..42], &[10, 0, 0, 1], "target protocol address");
        assert_eq!(fx.stats(0).answered, 1);
        assert_eq!(fx.stats(0).flooded, 0);
        assert_eq!(
            tunnel_stats(fx).tx_packets,
            0,
            "nothing crossed the underlay"
        );
    });
}

#[test]
fn requests_for_unknown_addresses_and_outside_tunnelled_vlans_are_flooded() {
    with_datapath(access(), |fx| {
        // Known address, but VLAN 1 has no tunnel yet: the switch does not answer.
        remote_neighbour(fx);
        assert_eq!(fx.tc(fx.ifindex(0), &arp_request(2)), TC_ACT_SHOT);
        assert_eq!(fx.stats(0).answered, 0);
        assert_eq!(fx.stats(0).flooded, 1);
        tunnel(fx, V4);
        // Tunnelled, but nobody published 10.0.0.3: flooded to the ports and the remotes.
        assert_eq!(fx.tc(fx.ifindex(0), &arp_request(3)), TC_ACT_SHOT);
        assert_eq!(fx.stats(0).answered, 0);
        assert_eq!(tunnel_stats(fx).tx_packets, 2);
    });
}
