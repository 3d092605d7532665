//! BPF_PROG_TEST_RUN on crafted frames, one test per datapath branch.
//!
//! Each test loads the real object, configures three ports on veths in its own namespace
//! (`p1`..`p3`, peers `q1`..`q3` in a second namespace), runs one frame through the XDP or TCX
//! program and checks the verdict, the counters and the FDB. The egress tests run the XDP
//! program with live frames, so its redirects go through the devmap egress program, and check
//! the bytes that reach the peers on both hooks. They need a kernel whose veth delivers live
//! test-run frames to the peer's stack: Linux 6.1 runs the egress program (the tx counters
//! move) but drops every such frame in the peer (`rx_dropped`), even one left untouched.

use std::time::Duration;

use tests::{
    datapath::{
        PATHS, Path, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_DROP, XDP_REDIRECT, access, stay_on_one_cpu,
        with_datapath,
    },
    frames::{ethernet, has_marker, station, tagged},
    raw::RawSocket,
};
use vswitch::{agent::monotonic_ns, config::VlanMode};
use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    flood_note::FloodNote,
    program_names,
    stats::{DropReason, PortStats},
    switch::SwitchConfig,
};

#[test]
fn unknown_destination_is_flooded_and_source_learned() {
    with_datapath(access(), |fx| {
        let p1 = fx.ifindex(0);
        let verdict = fx.xdp(p1, &ethernet(station(9), station(1), 1));
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(fx.stats(0).learned, 1);
        assert_eq!(fx.fdb(station(1)).map(|entry| entry.ifindex), Some(p1));
    });
}

#[test]
fn known_unicast_goes_to_its_port_only() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 1, monotonic_ns());
        let verdict = fx.xdp(fx.ifindex(0), &ethernet(station(2), station(1), 2));
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(fx.stats(0).forwarded, 1);
        assert_eq!(fx.stats(0).flooded, 0);
    });
}

#[test]
fn destination_on_the_ingress_port_is_dropped() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 0, monotonic_ns());
        let verdict = fx.xdp(fx.ifindex(0), &ethernet(station(2), station(1), 3));
        assert_eq!(verdict, XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::Hairpin as usize], 1);
        assert_eq!(fx.stats(0).forwarded + fx.stats(0).flooded, 0);
    });
}

#[test]
fn aged_entry_is_treated_as_unknown() {
    with_datapath(access(), |fx| {
        // A short ageing time, so that "longer ago than that" exists also on a machine that
        // booted less than the default 300 s ago (a fresh VM guest).
        let ageing_ns = 1_000_000_000;
        fx.maps
            .set_switch(SwitchConfig {
                ageing_ns,
                ..SwitchConfig::default()
            })
            .unwrap();
        let now = monotonic_ns();
        assert!(now > 2 * ageing_ns, "the clock has run for over 2 s");
        fx.learn(station(2), 1, now - 2 * ageing_ns);
        let verdict = fx.xdp(fx.ifindex(0), &ethernet(station(2), station(1), 4));
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(fx.stats(0).forwarded, 0);
    });
}

#[test]
fn truncated_and_malformed_frames_are_dropped_and_counted() {
    with_datapath(access(), |fx| {
        let p1 = fx.ifindex(0);
        let mut truncated = tagged(station(2), station(1), 1, 5);
        truncated.truncate(16);
        assert_eq!(fx.xdp(p1, &truncated), XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::TruncatedTag as usize], 1);
        let mut group_source = ethernet(station(2), station(1), 6);
        group_source[6] |= 1;
        assert_eq!(fx.xdp(p1, &group_source), XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::InvalidSource as usize], 1);
        assert_eq!(fx.stats(0).forwarded + fx.stats(0).flooded, 0);
        assert!(
            fx.fdb(station(1)).is_none(),
            "a dropped frame must not teach the FDB"
        );
    });
}

#[test]
fn vlan_not_allowed_on_the_port_is_dropped() {
    with_datapath(access(), |fx| {
        let verdict = fx.xdp(fx.ifindex(0), &tagged(station(2), station(1), 10, 8));
        assert_eq!(verdict, XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::VlanIngress as usize], 1);
    });
}

#[test]
fn frame_from_an_interface_that_is_not_a_port_is_dropped() {
    with_datapath(access(), |fx| {
        let loopback = 1;
        assert_eq!(
            fx.xdp(loopback, &ethernet(station(2), station(1), 9)),
            XDP_DROP
        );
        let stray = fx.maps.port_stats(0).unwrap();
        assert_eq!(stray.drops[DropReason::NotAPort as usize], 1);
    });
}

/// The bytes of `note` as the XDP ingress program leaves them in a frame's metadata.
fn note_bytes(note: &FloodNote) -> Vec<u8> {
    [
        &note.magic.to_ne_bytes()[..],
        &note.slot.to_ne_bytes(),
        &note.vlan.to_ne_bytes(),
        &note.priority.to_ne_bytes(),
    ]
    .concat()
}

#[test]
fn xdp_flood_leaves_a_note_of_the_vlan_for_the_egress_program() {
    // A test run returns the frame from its metadata on: a flood starts with the note the
    // devmap egress program reads (the kernel refuses to test-run that program on its own; the
    // live flood tests run it), a known unicast carries none.
    with_datapath(trunk_access_trunk(), |fx| {
        let frame = tagged(station(9), station(1), PCP5 | 10, 30);
        let (verdict, out) = fx.xdp_out(program_names::XDP_INGRESS, fx.ifindex(0), &frame);
        assert_eq!(verdict, XDP_REDIRECT);
        let note = FloodNote::new(fx.ports[0].slot, 10, PCP5);
        assert_eq!(out, [note_bytes(&note), frame].concat());
        let frame = ethernet(station(1), station(9), 31);
        let (verdict, out) = fx.xdp_out(program_names::XDP_INGRESS, fx.ifindex(1), &frame);
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(
            out,
            tagged(station(1), station(9), 10, 31),
            "no note on a unicast"
        );
    });
}

#[test]
fn xdp_flood_of_a_plain_group_leaves_unchanged_through_its_devmap_and_counts_each_copy() {
    let vlans = [
        VlanMode::Access(1),
        VlanMode::Access(1),
        VlanMode::Access(2),
    ];
    with_datapath(vlans, |fx| {
        fx.accept_xdp_on_peers();
        fx.write_flood_groups();
        let frame = ethernet(station(9), station(1), 40);
        let (verdict, out) = fx.xdp_out(program_names::XDP_INGRESS, fx.ifindex(0), &frame);
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(
            out, frame,
            "a plain flood leaves no note: no egress program reads one"
        );
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(
            fx.stats(1).tx_packets,
            1,
            "the member's copy is counted at ingress"
        );
        assert_eq!(fx.stats(1).tx_bytes, frame.len() as u64);
        assert_eq!(
            fx.stats(0).tx_packets,
            0,
            "never back out of the ingress port"
        );
        assert_eq!(fx.stats(2).tx_packets, 0, "p3 is in another VLAN");

        let q2 = RawSocket::open(&fx.peers, "q2");
        let q3 = RawSocket::open(&fx.peers, "q3");
        let within = Duration::from_secs(1);
        let frame = ethernet(station(9), station(1), 41);
        fx.xdp_live(fx.ifindex(0), &frame);
        assert!(q2.receives(within, |got| got == frame.as_slice()));
        assert!(!q3.receives(within, |got| has_marker(got, 41)));

        // p2 moves to VLAN 2: it leaves its group before its configuration changes, so VLAN
        // 1's floods take the egress program until the groups are written anew.
        fx.reconfigure(1, |spec| spec.vlan = VlanMode::Access(2));
        let frame = ethernet(station(9), station(1), 42);
        let (_, out) = fx.xdp_out(program_names::XDP_INGRESS, fx.ifindex(0), &frame);
        assert_eq!(
            out.len(),
            frame.len() + size_of::<FloodNote>(),
            "VLAN 1 has no group"
        );
        fx.write_flood_groups();
        let frame = ethernet(station(9), station(1), 43);
        fx.xdp_live(fx.ifindex(0), &frame);
        assert!(
            !q2.receives(within, |got| has_marker(got, 43)),
            "p2 left VLAN 1's devmap"
        );
        let frame = ethernet(station(9), station(2), 44);
        fx.xdp_live(fx.ifindex(1), &frame);
        assert!(q3.receives(within, |got| got == frame.as_slice()));
    });
}

#[test]
fn tc_redirects_known_unicast() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 1, monotonic_ns());
        let verdict = fx.tc(fx.ifindex(0), &ethernet(station(2), station(1), 10));
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(fx.stats(0).forwarded, 1);
        assert_eq!(fx.stats(1).tx_packets, 1);
        assert_eq!(fx.stats(2).tx_packets, 0);
    });
}

#[test]
fn tc_flood_sends_a_copy_to_every_other_port_of_the_vlan() {
    let vlans = [
        VlanMode::Access(1),
        VlanMode::Access(1),
        VlanMode::Access(2),
    ];
    with_datapath(vlans, |fx| {
        let q2 = RawSocket::open(&fx.peers, "q2");
        let q3 = RawSocket::open(&fx.peers, "q3");
        let frame = ethernet(station(9), station(1), 11);
        assert_eq!(fx.tc(fx.ifindex(0), &frame), TC_ACT_SHOT);
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(
            fx.stats(0).tx_packets,
            0,
            "never back out of the ingress port"
        );
        assert_eq!(fx.stats(1).tx_packets, 1);
        assert_eq!(fx.stats(2).tx_packets, 0, "p3 is in another VLAN");
        let within = Duration::from_secs(1);
        assert!(q2.receives(within, |got| has_marker(got, 11)));
        assert!(!q3.receives(within, |got| has_marker(got, 11)));
    });
}

#[test]
fn tc_hairpin_is_dropped() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 0, monotonic_ns());
        let verdict = fx.tc(fx.ifindex(0), &ethernet(station(2), station(1), 12));
        assert_eq!(verdict, TC_ACT_SHOT);
        assert_eq!(fx.stats(0).drops[DropReason::Hairpin as usize], 1);
    });
}

/// Priority 5 in a tag control information field.
const PCP5: u16 = 5 << 13;

/// `p1` a trunk of VLAN 10, `p2` an access port of VLAN 10, `p3` a trunk of VLAN 10.
fn trunk_access_trunk() -> [VlanMode; 3] {
    let trunk = || VlanMode::Trunk {
        vlans: vec![10],
        native: None,
    };
    [trunk(), VlanMode::Access(10), trunk()]
}

/// Floods `frame` in on port `ingress` through `path`, and asserts that every peer in
/// `expected` receives exactly the frame given for it.
fn assert_flood_delivers(path: Path, ingress: usize, frame: &[u8], expected: &[(&str, Vec<u8>)]) {
    assert_delivers(path, ingress, frame, None, expected, &[]);
}

/// Switches `frame` in on port `ingress` through `path` on the trunk-access-trunk switch, with
/// `station` (MAC, VLAN, port) learned first, and checks that each expected peer receives the
/// expected bytes and that the `absent` peers receive nothing of it.
fn assert_delivers(
    path: Path,
    ingress: usize,
    frame: &[u8],
    station: Option<([u8; 6], u16, usize)>,
    expected: &[(&str, Vec<u8>)],
    absent: &[&str],
) {
    with_datapath(trunk_access_trunk(), |fx| {
        fx.accept_xdp_on_peers();
        if let Some((mac, vlan, port)) = station {
            let entry = FdbEntry::learned(Location::port(fx.ifindex(port)), monotonic_ns());
            fx.maps.set_fdb(FdbKey { mac, vlan }, entry).unwrap();
        }
        let sockets: Vec<_> = expected
            .iter()
            .map(|(peer, _)| *peer)
            .chain(absent.iter().copied())
            .map(|peer| RawSocket::open(&fx.peers, peer))
            .collect();
        fx.switch(path, ingress, frame);
        for ((peer, wanted), socket) in expected.iter().zip(&sockets) {
            assert!(
                socket.receives(Duration::from_secs(1), |got| got == wanted.as_slice()),
                "{path:?}: {peer} did not receive {wanted:02x?}"
            );
        }
        for (peer, socket) in absent.iter().zip(&sockets[expected.len()..]) {
            assert!(
                !socket.receives(Duration::from_millis(300), |got| got[6..12] == frame[6..12]),
                "{path:?}: {peer} received a frame for another port"
            );
        }
    });
}

#[test]
fn xdp_known_unicast_is_tagged_at_ingress_for_its_one_port() {
    // Access port p2 to a station behind trunk p1: tagged; trunk p1 to a station behind access
    // p2: untagged.
    let cases = [
        (
            1,
            ethernet(station(9), station(2), 23),
            (station(9), 10, 0),
            tagged(station(9), station(2), 10, 23),
            "q1",
        ),
        (
            0,
            tagged(station(8), station(1), PCP5 | 10, 24),
            (station(8), 10, 1),
            ethernet(station(8), station(1), 24),
            "q2",
        ),
    ];
    // Live frames: the one port gets it through the devmap without a program, the other trunk
    // nothing. (The TCX path tags its unicast the same way, with `egress::prepare`.)
    for (ingress, frame, behind, leaving, peer) in &cases {
        let expected = [(*peer, leaving.clone())];
        assert_delivers(
            Path::Xdp,
            *ingress,
            frame,
            Some(*behind),
            &expected,
            &["q3"],
        );
    }
}

#[test]
fn xdp_flow_cache_takes_a_flows_next_frames_until_the_controller_writes() {
    with_datapath(access(), |fx| {
        stay_on_one_cpu();
        let p1 = fx.ifindex(0);
        fx.learn(station(2), 1, monotonic_ns());
        let frame = ethernet(station(2), station(1), 50);
        assert_eq!(fx.xdp(p1, &frame), XDP_REDIRECT);
        // Written behind the controller's back (no generation bump), station 2's move to p3
        // stays unseen: the flow's next frame takes the decision this CPU cached.
        let moved = FdbEntry::learned(Location::port(fx.ifindex(2)), monotonic_ns());
        let key = FdbKey {
            mac: station(2),
            vlan: 1,
        };
        fx.maps.fdb.insert(key, moved, 0).unwrap();
        assert_eq!(fx.xdp(p1, &frame), XDP_REDIRECT);
        assert_eq!(fx.stats(1).tx_packets, 2, "the cached decision");
        // The controller's own write bumps the generation: the next frame sees the move.
        fx.learn(station(2), 2, monotonic_ns());
        assert_eq!(fx.xdp(p1, &frame), XDP_REDIRECT);
        assert_eq!(fx.stats(1).tx_packets, 2);
        assert_eq!(fx.stats(2).tx_packets, 1, "after the controller's write");
        let ingress = fx.stats(0);
        assert_eq!(
            (ingress.rx_packets, ingress.forwarded),
            (3, 3),
            "counted alike"
        );
    });
}

#[test]
fn xdp_flow_cache_forgets_a_flow_whose_station_moved_by_learning() {
    with_datapath(access(), |fx| {
        stay_on_one_cpu();
        let (p1, p3) = (fx.ifindex(0), fx.ifindex(2));
        fx.learn(station(2), 1, monotonic_ns());
        let to_2 = ethernet(station(2), station(1), 51);
        assert_eq!(fx.xdp(p1, &to_2), XDP_REDIRECT);
        // Station 2 speaks from p3: learning moves it there, on the datapath alone.
        assert_eq!(
            fx.xdp(p3, &ethernet(station(1), station(2), 52)),
            XDP_REDIRECT
        );
        assert_eq!(fx.xdp(p1, &to_2), XDP_REDIRECT);
        assert_eq!(fx.stats(1).tx_packets, 1, "not to where the station was");
        assert_eq!(fx.stats(2).tx_packets, 1, "to where it moved");
    });
}

#[test]
fn xdp_flow_cache_tags_a_flows_next_frames_as_its_first() {
    with_datapath(trunk_access_trunk(), |fx| {
        stay_on_one_cpu();
        fx.accept_xdp_on_peers();
        let entry = FdbEntry::learned(Location::port(fx.ifindex(0)), monotonic_ns());
        fx.maps
            .set_fdb(
                FdbKey {
                    mac: station(9),
                    vlan: 10,
                },
                entry,
            )
            .unwrap();
        let q1 = RawSocket::open(&fx.peers, "q1");
        for marker in [53, 54, 55] {
            // The same flow each time: only the payload's marker differs.
            let frame = ethernet(station(9), station(2), marker);
            fx.xdp_live(fx.ifindex(1), &frame);
            let pushed = tagged(station(9), station(2), 10, marker);
            assert!(
                q1.receives(Duration::from_secs(1), |got| got == pushed.as_slice()),
                "frame {marker} of the flow was not tagged for the trunk"
            );
        }
        assert_eq!(fx.stats(1).forwarded, 3);
    });
}

#[test]
fn egress_pushes_a_tag_of_priority_0_onto_an_untagged_frame() {
    for path in PATHS {
        let frame = ethernet(station(9), station(2), 20);
        let pushed = tagged(station(9), station(2), 10, 20);
        assert_flood_delivers(path, 1, &frame, &[("q1", pushed.clone()), ("q3", pushed)]);
    }
}

#[test]
fn egress_pops_the_tag_for_an_untagged_port_and_keeps_it_for_a_tagged_one() {
    for path in PATHS {
        let frame = tagged(station(9), station(1), PCP5 | 10, 21);
        let popped = ethernet(station(9), station(1), 21);
        // On TCX the flood pops for q2 before q3: the tag comes back with its priority.
        assert_flood_delivers(path, 0, &frame, &[("q2", popped), ("q3", frame.clone())]);
    }
}

#[test]
fn egress_retag_keeps_the_priority() {
    for path in PATHS {
        // Priority-tagged (VLAN 0) on the access port: classified into VLAN 10.
        let frame = tagged(station(9), station(2), PCP5, 22);
        let retagged = tagged(station(9), station(2), PCP5 | 10, 22);
        assert_flood_delivers(
            path,
            1,
            &frame,
            &[("q1", retagged.clone()), ("q3", retagged)],
        );
    }
}

/// The counters of slot 0 and of the three ports after `frames` were switched in on `p1`.
fn counters_after(path: Path, frames: &[Vec<u8>]) -> Vec<PortStats> {
    let vlans = [
        VlanMode::Access(1),
        VlanMode::Access(1),
        VlanMode::Access(2),
    ];
    let mut counters = Vec::new();
    with_datapath(vlans, |fx| {
        let now = monotonic_ns();
        let loopback = 1;
        fx.maps
            .set_fdb(
                FdbKey {
                    mac: station(7),
                    vlan: 1,
                },
                FdbEntry::learned(Location::port(loopback), now),
            )
            .expect("writing the FDB");
        fx.learn(station(3), 2, now);
        let p1 = fx.ifindex(0);
        for frame in frames {
            let verdict = match path {
                Path::Xdp => (fx.xdp(p1, frame), XDP_DROP),
                Path::Tc => (fx.tc(p1, frame), TC_ACT_SHOT),
            };
            assert_eq!(verdict.0, verdict.1, "{path:?} must drop");
        }
        counters.push(fx.maps.port_stats(0).expect("reading counters"));
        counters.extend((0..3).map(|port| fx.stats(port)));
    });
    counters
}

#[test]
fn stale_target_and_non_member_count_the_same_on_both_hooks() {
    // station(7) is learned behind an ifindex that is no port; station(3) behind p3, which is
    // not in VLAN 1.
    let frames = [
        ethernet(station(7), station(1), 23),
        ethernet(station(3), station(1), 24),
    ];
    let xdp = counters_after(Path::Xdp, &frames);
    let tc = counters_after(Path::Tc, &frames);
    assert_eq!(xdp, tc, "the same frames, the same counters");
    let p1 = &xdp[1];
    assert_eq!(p1.drops[DropReason::VlanEgress as usize], 2);
    assert_eq!(p1.total_drops(), 2);
    assert_eq!(p1.forwarded + p1.flooded, 0);
    assert_eq!(xdp[0].total_drops(), 0, "nothing charged to the stray slot");
}
