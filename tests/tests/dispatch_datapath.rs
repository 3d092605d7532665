//! BPF_PROG_TEST_RUN of the dispatch branches on crafted frames: unicast and group frames that
//! arrive on a parent (XDP and TCX), and what a child sends (TCX), in each mode.
//!
//! The fixture's `u0` is the parent and its ports `p2` and `p3` are the children (their peers
//! `q2`, `q3` receive what is cloned to them); the test writes the maps the agent would write.

use tests::{
    datapath::{
        Fixture, TC_ACT_OK, TC_ACT_REDIRECT, TC_ACT_SHOT, XDP_REDIRECT, access, with_datapath,
    },
    frames::{ethernet, ipv4_udp, station},
    resolution::{arp_request, icmpv6_checksum_ok, solicitation},
};
use vswitch::datapath::ChildKeys;
use vswitch_common::{
    dispatch::{CHILD_F_PEER, Child, MAX_CHILDREN, Mode, Parent},
    ipvlan, program_names,
    stats::{DropReason, PortStats},
};

/// `XDP_PASS`.
const XDP_PASS: u32 = 2;
const PARENT_SLOT: u32 = 20;
const CHILD_SLOTS: [u32; 2] = [21, 22];
/// The children's MAC addresses.
const CHILD_MACS: [[u8; 6]; 2] = [[2, 0x77, 0, 0, 0, 1], [2, 0x77, 0, 0, 0, 2]];
/// A station outside, behind the parent.
const OUTSIDE: [u8; 6] = [2, 0x77, 0, 0, 0, 0x64];
const BROADCAST: [u8; 6] = [0xff; 6];

/// The parent's MAC address, which ipvlan children share.
const PARENT_MAC: [u8; 6] = [2, 0x77, 0, 0, 0, 0xfe];
/// The ipvlan children's IPv4 addresses: the second is `ipv4_udp`'s destination.
const CHILD_IPS: [[u8; 4]; 2] = [[192, 168, 0, 9], [192, 168, 0, 2]];
/// The ipvlan children's IPv6 addresses.
const CHILD_IPS6: [[u8; 16]; 2] = [ipv6(9), ipv6(2)];
/// The outside station's addresses.
const OUTSIDE_IP: [u8; 4] = [192, 168, 0, 100];
const OUTSIDE_IP6: [u8; 16] = ipv6(100);

/// `fd77::n`.
const fn ipv6(n: u8) -> [u8; 16] {
    [0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]
}

/// Writes what the agent writes for a `[[macvlan]]` (or `[[ipvlan]]`) on `u0` with children
/// `p2` and `p3` in `mode`, the source-mode ones accepting `OUTSIDE`. Returns the children.
fn parent(fx: &mut Fixture, mode: Mode) -> [Child; 2] {
    let ipvlan = mode.is_ipvlan();
    let children = [0, 1].map(|n| Child {
        ifindex: fx.ifindex(n + 1),
        parent: fx.underlay,
        mode: mode as u32,
        flags: CHILD_F_PEER,
        slot: CHILD_SLOTS[n],
        mac: if ipvlan { PARENT_MAC } else { CHILD_MACS[n] },
        _pad: [0; 2],
    });
    let sources: &[[u8; 6]] = if mode == Mode::Source {
        &[OUTSIDE]
    } else {
        &[]
    };
    let mut set = Parent {
        slot: PARENT_SLOT,
        mode: mode as u32,
        passthru: 0,
        len: 2,
        children: [0; MAX_CHILDREN],
    };
    for (n, (slot, child)) in set.children.iter_mut().zip(&children).enumerate() {
        *slot = child.ifindex;
        let addresses = if ipvlan {
            vec![ipvlan::v4(CHILD_IPS[n]), CHILD_IPS6[n]]
        } else {
            vec![]
        };
        let keys = ChildKeys {
            sources,
            addresses: &addresses,
        };
        fx.maps.set_child(*child, keys).unwrap();
    }
    if mode == Mode::Passthru {
        set.len = 1;
        set.passthru = children[0].ifindex;
    }
    fx.maps.set_parent(fx.underlay, Some(set)).unwrap();
    for slot in [PARENT_SLOT, CHILD_SLOTS[0], CHILD_SLOTS[1]] {
        fx.maps.reset_stats(slot).unwrap();
    }
    children
}

fn stats(fx: &Fixture, slot: u32) -> PortStats {
    fx.maps.port_stats(slot).unwrap()
}

/// The frames transmitted to each child so far.
fn delivered(fx: &Fixture) -> [u64; 2] {
    CHILD_SLOTS.map(|slot| stats(fx, slot).tx_packets)
}

#[test]
fn unicast_on_the_parent_is_redirected_to_the_child_with_the_address() {
    with_datapath(access(), |fx| {
        for mode in [Mode::Private, Mode::Vepa, Mode::Bridge] {
            parent(fx, mode);
            let verdict = fx.xdp_program(
                program_names::DISPATCH_XDP,
                fx.underlay,
                &ethernet(CHILD_MACS[1], OUTSIDE, 1),
            );
            assert_eq!(verdict, XDP_REDIRECT, "{mode:?}");
            assert_eq!(delivered(fx), [0, 1], "{mode:?}");
            assert_eq!(stats(fx, PARENT_SLOT).forwarded, 1);
            let unknown = ethernet(station(9), OUTSIDE, 2);
            let verdict = fx.xdp_program(program_names::DISPATCH_XDP, fx.underlay, &unknown);
            assert_eq!(
                verdict, XDP_PASS,
                "{mode:?}: unknown unicast goes to the parent"
            );
            let group = ethernet(BROADCAST, OUTSIDE, 3);
            let verdict = fx.xdp_program(program_names::DISPATCH_XDP, fx.underlay, &group);
            assert_eq!(verdict, XDP_PASS, "{mode:?}: group frames go on to TCX");
            assert_eq!(stats(fx, PARENT_SLOT).rx_packets, 3);
        }
    });
}

#[test]
fn passthru_takes_every_unicast_and_source_mode_only_allowed_sources() {
    with_datapath(access(), |fx| {
        parent(fx, Mode::Passthru);
        let any = ethernet(station(9), OUTSIDE, 1);
        let verdict = fx.xdp_program(program_names::DISPATCH_XDP, fx.underlay, &any);
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(delivered(fx), [1, 0]);

        parent(fx, Mode::Source);
        let allowed = ethernet(CHILD_MACS[0], OUTSIDE, 2);
        let verdict = fx.xdp_program(program_names::DISPATCH_XDP, fx.underlay, &allowed);
        assert_eq!(verdict, XDP_REDIRECT);
        let refused = ethernet(CHILD_MACS[0], station(9), 3);
        let verdict = fx.xdp_program(program_names::DISPATCH_XDP, fx.underlay, &refused);
        assert_eq!(verdict, XDP_PASS);
        assert_eq!(delivered(fx), [1, 0]);
    });
}

#[test]
fn group_frames_on_the_parent_reach_the_children_their_origin_allows() {
    with_datapath(access(), |fx| {
        // (mode, source of the broadcast, children reached)
        let cases = [
            (Mode::Bridge, OUTSIDE, [1, 1]),
            (Mode::Private, OUTSIDE, [1, 1]),
            (Mode::Source, OUTSIDE, [1, 1]),
            (Mode::Source, station(9), [0, 0]),
            // Reflected by the outside: a VEPA child's frame reaches its sibling, a private
            // child's only itself, a bridge child's neither (it had its copy on the way out).
            (Mode::Vepa, CHILD_MACS[0], [0, 1]),
            (Mode::Private, CHILD_MACS[0], [1, 0]),
            (Mode::Bridge, CHILD_MACS[0], [0, 0]),
        ];
        for (mode, source, reached) in cases {
            parent(fx, mode);
            let (verdict, _) = fx.tc_out(
                program_names::DISPATCH_PARENT,
                fx.underlay,
                &ethernet(BROADCAST, source, 4),
            );
            assert_eq!(
                verdict, TC_ACT_OK,
                "{mode:?}: the parent's stack gets it too"
            );
            assert_eq!(delivered(fx), reached, "{mode:?} from {source:02x?}");
        }
        parent(fx, Mode::Bridge);
        let (verdict, _) = fx.tc_out(
            program_names::DISPATCH_PARENT,
            fx.underlay,
            &ethernet(CHILD_MACS[1], OUTSIDE, 5),
        );
        assert_eq!(verdict, TC_ACT_OK);
        assert_eq!(delivered(fx), [0, 0], "unicast is XDP's");
    });
}

#[test]
fn children_reach_siblings_directly_only_in_bridge_mode() {
    with_datapath(access(), |fx| {
        for mode in [Mode::Bridge, Mode::Vepa, Mode::Private, Mode::Source] {
            let children = parent(fx, mode);
            let from = children[0].ifindex;
            let sibling = fx.tc_out(
                program_names::DISPATCH_CHILD,
                from,
                &ethernet(CHILD_MACS[1], CHILD_MACS[0], 6),
            );
            assert_eq!(sibling.0, TC_ACT_REDIRECT, "{mode:?}");
            let broadcast = fx.tc_out(
                program_names::DISPATCH_CHILD,
                from,
                &ethernet(BROADCAST, CHILD_MACS[0], 7),
            );
            assert_eq!(
                broadcast.0, TC_ACT_REDIRECT,
                "{mode:?}: out of the parent too"
            );
            let direct = if mode == Mode::Bridge { 2 } else { 0 };
            assert_eq!(delivered(fx), [0, direct], "{mode:?}");
            let sent = stats(fx, CHILD_SLOTS[0]);
            assert_eq!((sent.rx_packets, sent.forwarded), (2, 2), "{mode:?}");
        }
    });
}

#[test]
fn frames_from_an_interface_that_is_no_child_are_dropped_and_counted() {
    with_datapath(access(), |fx| {
        parent(fx, Mode::Bridge);
        let before = fx.maps.port_stats(0).unwrap().drops[DropReason::NotAPort as usize];
        let stranger = fx.ifindex(0);
        let (verdict, _) = fx.tc_out(
            program_names::DISPATCH_CHILD,
            stranger,
            &ethernet(OUTSIDE, station(1), 8),
        );
        assert_eq!(verdict, TC_ACT_SHOT);
        let after = fx.maps.port_stats(0).unwrap().drops[DropReason::NotAPort as usize];
        assert_eq!(after, before + 1);
    });
}

#[test]
fn ipvlan_children_are_found_by_the_ip_address_a_frame_is_for() {
    with_datapath(access(), |fx| {
        let children = parent(fx, Mode::IpvlanL2);
        let to_second = ipv4_udp(PARENT_MAC, OUTSIDE, 1);
        let verdict = fx.xdp_program(program_names::DISPATCH_XDP, fx.underlay, &to_second);
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(delivered(fx), [0, 1]);
        let mut to_nobody = to_second.clone();
        to_nobody[30..34].copy_from_slice(&[192, 168, 0, 77]);
        let verdict = fx.xdp_program(program_names::DISPATCH_XDP, fx.underlay, &to_nobody);
        assert_eq!(
            verdict, XDP_PASS,
            "no child has the address: the parent's stack"
        );
        let (verdict, _) = fx.tc_out(
            program_names::DISPATCH_PARENT,
            fx.underlay,
            &ethernet(BROADCAST, OUTSIDE, 2),
        );
        assert_eq!(verdict, TC_ACT_OK);
        assert_eq!(delivered(fx), [1, 2], "broadcasts reach every child");

        // From the first child: to the shared MAC with a sibling's address, to the shared MAC
        // with no child's address (the parent's stack), and a broadcast.
        let from = children[0].ifindex;
        let mut sibling = ipv4_udp(PARENT_MAC, PARENT_MAC, 3);
        sibling[26..30].copy_from_slice(&CHILD_IPS[0]);
        let verdict = fx.tc_out(program_names::DISPATCH_CHILD, from, &sibling).0;
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(delivered(fx), [1, 3]);
        let mut host = sibling.clone();
        host[30..34].copy_from_slice(&[192, 168, 0, 77]);
        let verdict = fx.tc_out(program_names::DISPATCH_CHILD, from, &host).0;
        assert_eq!(verdict, TC_ACT_REDIRECT);
        let broadcast = ethernet(BROADCAST, PARENT_MAC, 4);
        let verdict = fx.tc_out(program_names::DISPATCH_CHILD, from, &broadcast).0;
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(
            delivered(fx),
            [1, 4],
            "only the broadcast reached the sibling"
        );
        assert_eq!(stats(fx, CHILD_SLOTS[0]).forwarded, 3);
    });
}

#[test]
fn ipvlan_l3_answers_the_outside_for_its_children_and_floods_nothing() {
    with_datapath(access(), |fx| {
        parent(fx, Mode::IpvlanL3);
        let request = arp_request(OUTSIDE, OUTSIDE_IP, CHILD_IPS[1]);
        let (verdict, reply) = fx.tc_out(program_names::DISPATCH_PARENT, fx.underlay, &request);
        assert_eq!(
            verdict, TC_ACT_REDIRECT,
            "the reply goes back out of the parent"
        );
        let mut expected = arp_request(OUTSIDE, OUTSIDE_IP, CHILD_IPS[1]);
        expected[..6].copy_from_slice(&OUTSIDE);
        expected[6..12].copy_from_slice(&PARENT_MAC);
        expected[21] = 2;
        expected[22..28].copy_from_slice(&PARENT_MAC);
        expected[28..32].copy_from_slice(&CHILD_IPS[1]);
        expected[32..38].copy_from_slice(&OUTSIDE);
        expected[38..42].copy_from_slice(&OUTSIDE_IP);
        assert_eq!(reply, expected);

        let request = solicitation(OUTSIDE, OUTSIDE_IP6, CHILD_IPS6[0]);
        let (verdict, reply) = fx.tc_out(program_names::DISPATCH_PARENT, fx.underlay, &request);
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(reply.len(), request.len());
        assert_eq!(&reply[..12], &[OUTSIDE, PARENT_MAC].concat()[..]);
        assert_eq!(&reply[22..38], &CHILD_IPS6[0], "from the target");
        assert_eq!(&reply[38..54], &OUTSIDE_IP6, "to the requester");
        assert_eq!(reply[54], 136, "a neighbour advertisement");
        assert_eq!(reply[58] & 0x40, 0x40, "solicited");
        assert_eq!(&reply[62..78], &CHILD_IPS6[0]);
        assert_eq!(&reply[78..86], &[&[2u8, 1][..], &PARENT_MAC].concat()[..]);
        assert!(icmpv6_checksum_ok(&reply), "the advertisement's checksum");
        assert_eq!(stats(fx, PARENT_SLOT).answered, 2);

        // Nobody's address, a broadcast that is no request, and a corrupt solicitation: the
        // parent's stack only, and no child gets a copy.
        let mut corrupt = solicitation(OUTSIDE, OUTSIDE_IP6, CHILD_IPS6[0]);
        corrupt[70] ^= 0x10;
        for frame in [
            arp_request(OUTSIDE, OUTSIDE_IP, [192, 168, 0, 77]),
            ethernet(BROADCAST, OUTSIDE, 1),
            corrupt,
        ] {
            let (verdict, out) = fx.tc_out(program_names::DISPATCH_PARENT, fx.underlay, &frame);
            assert_eq!(verdict, TC_ACT_OK);
            assert_eq!(out, frame, "left as it was");
        }
        assert_eq!(stats(fx, PARENT_SLOT).answered, 2);
        assert_eq!(delivered(fx), [0, 0], "L3 children get no group frames");
    });
}

#[test]
fn ipvlan_l3_children_are_answered_for_siblings_and_routed_by_address() {
    with_datapath(access(), |fx| {
        let children = parent(fx, Mode::IpvlanL3);
        let from = children[0].ifindex;
        let request = arp_request(PARENT_MAC, CHILD_IPS[0], CHILD_IPS[1]);
        let (verdict, reply) = fx.tc_out(program_names::DISPATCH_CHILD, from, &request);
        assert_eq!(verdict, TC_ACT_REDIRECT, "back to the child");
        assert_eq!(reply[21], 2, "an ARP reply");
        assert_eq!(&reply[28..32], &CHILD_IPS[1]);
        assert_eq!(stats(fx, CHILD_SLOTS[0]).answered, 1);
        assert_eq!(delivered(fx), [1, 0], "the reply, to the asking child only");

        // A request for an outside address leaves through the parent, unanswered and unchanged.
        let outward = arp_request(PARENT_MAC, CHILD_IPS[0], OUTSIDE_IP);
        let (verdict, out) = fx.tc_out(program_names::DISPATCH_CHILD, from, &outward);
        assert_eq!((verdict, out), (TC_ACT_REDIRECT, outward));
        assert_eq!(delivered(fx), [1, 0], "no sibling sees it");

        // Routed: the child sent to its gateway's MAC, the packet is for the sibling.
        let mut routed = ipv4_udp(OUTSIDE, PARENT_MAC, 2);
        routed[26..30].copy_from_slice(&CHILD_IPS[0]);
        let (verdict, out) = fx.tc_out(program_names::DISPATCH_CHILD, from, &routed);
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(&out[..6], &PARENT_MAC, "addressed to the sibling");
        assert_eq!(&out[6..], &routed[6..]);
        assert_eq!(delivered(fx), [1, 1]);

        // From the outside to a child's address, whatever MAC it was sent to.
        let inward = ipv4_udp(station(9), OUTSIDE, 3);
        let (verdict, out) = fx.xdp_out(program_names::DISPATCH_XDP, fx.underlay, &inward);
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(&out[..6], &PARENT_MAC);
        assert_eq!(delivered(fx), [1, 2]);
    });
}
