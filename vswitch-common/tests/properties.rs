//! Properties of the datapath's decision logic on arbitrary inputs: parsing never panics and
//! agrees with the bytes, a frame never goes back out of its ingress port, learning never
//! moves a static entry, egress tagging leaves the frame in the VLAN it decided, and VXLAN
//! encapsulation round-trips through the receiving side's checks.

use proptest::prelude::*;
use vswitch_common::{
    dispatch::{self, Child, Departure, Lookup, Mode, Origin},
    egress::{self, EgressAction, TagFailed, Tagger},
    fdb::{self, FDB_F_REMOTE, FDB_F_STATIC, FdbEntry, Learning, Location},
    forward::{self, Verdict},
    frame::{self, ETH_HLEN, Frame, Tag},
    ipvlan::Address,
    mac::{self, MacAddr},
    neighbour::Request,
    port::{Egress, PortConfig},
    stats::DropReason,
    vlan::{ETH_P_8021Q, VID_MASK, VlanSet},
    vxlan::{self, Arrival, NextHop, Outer, Tunnel, Vtep, vtep_v4},
};

const AGEING_NS: u64 = 300 * 1_000_000_000;

fn a_mac() -> impl Strategy<Value = MacAddr> {
    prop_oneof![
        Just([0xff; 6]),
        Just([0; 6]),
        (0u8..4).prop_map(|n| [2, 0, 0, 0, 0, n]),
        any::<MacAddr>(),
    ]
}

fn an_entry() -> impl Strategy<Value = FdbEntry> {
    (0u32..6, 0u32..4, any::<u64>(), any::<bool>()).prop_map(|(ifindex, flags, seen, remote)| {
        FdbEntry {
            ifindex,
            flags,
            last_seen_ns: seen,
            remote: if remote {
                vtep_v4([192, 0, 2, 9])
            } else {
                [0; 16]
            },
        }
    })
}

fn a_port() -> impl Strategy<Value = PortConfig> {
    (0u16..30, proptest::collection::vec(1u16..30, 0..4)).prop_map(|(pvid, vids)| {
        let mut tagged = VlanSet::EMPTY;
        for vid in vids {
            tagged.insert(vid);
        }
        PortConfig {
            tagged,
            ..PortConfig::access(1, pvid, 0)
        }
    })
}

/// A frame in a byte vector, tagged in its data as the XDP path does it.
struct Bytes(Vec<u8>);

impl Frame for Bytes {
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        self.0.as_slice().read(offset)
    }

    fn accel_tci(&self) -> Option<u16> {
        None
    }
}

impl Tagger for Bytes {
    fn tag(&self) -> Result<Tag, DropReason> {
        frame::outer_tag(self)
    }

    fn push(&mut self, tci: u16) -> Result<(), TagFailed> {
        let [a, b] = ETH_P_8021Q.to_be_bytes();
        let [c, d] = tci.to_be_bytes();
        self.0.splice(12..12, [a, b, c, d]);
        Ok(())
    }

    fn pop(&mut self) -> Result<(), TagFailed> {
        self.0.drain(12..16);
        Ok(())
    }

    fn retag(&mut self, tci: u16) -> Result<(), TagFailed> {
        self.0[14..16].copy_from_slice(&tci.to_be_bytes());
        Ok(())
    }
}

proptest! {
    #[test]
    fn parse_never_panics_and_agrees_with_the_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        match frame::parse(bytes.as_slice()) {
            Err(DropReason::Runt) => prop_assert!(bytes.len() < ETH_HLEN),
            Err(DropReason::InvalidSource) => {
                let src: MacAddr = bytes[6..12].try_into().unwrap();
                prop_assert!(mac::is_group(&src) || mac::is_zero(&src));
            }
            Err(DropReason::TruncatedTag) => prop_assert!(bytes.len() < ETH_HLEN + 4),
            Err(other) => prop_assert!(false, "parse dropped as {other:?}"),
            Ok(header) => {
                prop_assert_eq!(&header.dst[..], &bytes[..6]);
                prop_assert_eq!(&header.src[..], &bytes[6..12]);
                let ethertype = u16::from_be_bytes([bytes[12], bytes[13]]);
                match header.tag {
                    Tag::None => prop_assert!(!vswitch_common::vlan::is_vlan_ethertype(ethertype)),
                    Tag::InData(tci) => {
                        prop_assert_eq!(tci, u16::from_be_bytes([bytes[14], bytes[15]]));
                    }
                    Tag::Accel(_) => prop_assert!(false, "a byte slice has no accelerated tag"),
                }
            }
        }
    }

    #[test]
    fn a_frame_never_goes_back_out_of_its_ingress_port(
        ingress in 0u32..6,
        dst in a_mac(),
        entry in proptest::option::of(an_entry()),
        now in any::<u64>(),
    ) {
        match forward::decide(ingress, &dst, entry.as_ref(), now, AGEING_NS) {
            Verdict::Forward { ifindex } => {
                prop_assert_ne!(ifindex, ingress);
                prop_assert!(!mac::is_group(&dst));
            }
            Verdict::Tunnel { .. } => {
                let entry = entry.unwrap();
                prop_assert!(entry.is_remote());
                prop_assert_ne!(entry.ifindex, ingress);
            }
            Verdict::Flood => {}
            Verdict::Drop(reason) => prop_assert_eq!(reason, DropReason::Hairpin),
        }
    }

    #[test]
    fn learning_never_moves_a_static_entry_and_settles(
        existing in proptest::option::of(an_entry()),
        ifindex in 0u32..6,
        now in any::<u64>(),
    ) {
        let location = Location::port(ifindex);
        let outcome = fdb::learn(existing.as_ref(), location, now, AGEING_NS);
        if existing.is_some_and(|entry| entry.flags & FDB_F_STATIC != 0) {
            prop_assert_eq!(outcome, Learning::Unchanged);
        }
        if let Learning::Learned(entry) | Learning::Refreshed(entry) = outcome {
            prop_assert_eq!(entry.location(), location);
            prop_assert_eq!(entry.last_seen_ns, now);
            prop_assert_eq!(entry.flags & (FDB_F_STATIC | FDB_F_REMOTE), 0);
            // The same station seen again at once changes nothing.
            let again = fdb::learn(Some(&entry), location, now, AGEING_NS);
            prop_assert_eq!(again, Learning::Unchanged);
        }
    }

    #[test]
    fn ingress_vlan_is_one_the_port_carries(
        port in a_port(),
        tci in proptest::option::of(any::<u16>()),
    ) {
        if let Ok(vlan) = port.ingress_vlan(tci) {
            prop_assert_ne!(vlan, 0);
            prop_assert_ne!(port.egress(vlan), Egress::NotMember);
        }
    }

    #[test]
    fn egress_leaves_the_frame_in_its_vlan_with_its_priority(
        port in a_port(),
        vlan in 1u16..30,
        priority in any::<u16>(),
        tci in proptest::option::of(any::<u16>()),
    ) {
        let mut bytes = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0, 0, 0, 0];
        if let Some(tci) = tci {
            bytes.splice(12..12, [0x81, 0x00, (tci >> 8) as u8, tci as u8]);
        }
        let mut frame = Bytes(bytes);
        let action = egress::decide(Some(&port), vlan, priority, frame.tag().unwrap());
        let left = egress::prepare(&mut frame, Some(&port), vlan, priority);
        match port.egress(vlan) {
            Egress::NotMember => {
                prop_assert_eq!(action, EgressAction::Drop(DropReason::VlanEgress));
                prop_assert_eq!(left, Err(DropReason::VlanEgress));
            }
            Egress::Untagged => {
                prop_assert!(left.is_ok());
                prop_assert_eq!(frame.tag(), Ok(Tag::None));
            }
            Egress::Tagged => {
                prop_assert!(left.is_ok());
                let now = frame.tag().unwrap().tci().unwrap();
                prop_assert_eq!(now & VID_MASK, vlan);
                if action != EgressAction::Keep {
                    prop_assert_eq!(now & !VID_MASK, priority & !VID_MASK);
                }
            }
        }
        let gone = egress::decide(None, vlan, priority, Tag::None);
        prop_assert_eq!(gone, EgressAction::Drop(DropReason::VlanEgress));
    }

    #[test]
    fn vxlan_encapsulation_round_trips(
        vni in 0u32..(1 << 24),
        v6 in any::<bool>(),
        last in 1u8..255,
        inner in proptest::collection::vec(any::<u8>(), ETH_HLEN..100),
        hash in any::<u32>(),
    ) {
        let (local, remote): (Vtep, Vtep) = if v6 {
            let mut local = [0xfd; 16];
            local[15] = last;
            let mut remote = local;
            remote[14] ^= 1;
            (local, remote)
        } else {
            (vtep_v4([192, 0, 2, last]), vtep_v4([198, 51, 100, last]))
        };
        let tunnel = Tunnel {
            vni,
            underlay: 7,
            dstport: vxlan::DEFAULT_PORT,
            _pad: [0; 3],
            local,
            port: PortConfig::access(3, 10, 0),
        };
        let outer = Outer {
            next_hop: NextHop {
                ifindex: 7,
                mtu: 1500,
                dst_mac: [2, 0xbb, 0, 0, 0, 1],
                src_mac: [2, 0xaa, 0, 0, 0, 1],
                _pad: 0,
            },
            remote,
            src_port: vxlan::source_port(hash),
            inner_len: inner.len() as u16,
        };
        let eth: [u8; ETH_HLEN] = inner[..ETH_HLEN].try_into().unwrap();
        let mut frame = if v6 {
            vxlan::encap_v6(&tunnel, &outer, &eth).to_vec()
        } else {
            vxlan::encap_v4(&tunnel, &outer, &eth).to_vec()
        };
        frame.extend_from_slice(&inner[ETH_HLEN..]);
        let Arrival::Vxlan(received) = vxlan::arrival(frame.as_slice(), vxlan::DEFAULT_PORT) else {
            return Err(TestCaseError::fail("an encapsulated frame is not recognised"));
        };
        prop_assert_eq!(received.vni, vni);
        prop_assert_eq!(received.outer_len, tunnel.overhead());
        prop_assert_eq!(&frame[received.outer_len..], inner.as_slice());
        // The receiver is the remote: its tunnel's local VTEP is our remote, and it learns us.
        prop_assert_eq!(received.local, remote);
        prop_assert_eq!(received.remote, local);
        let receiver = Tunnel { local: remote, ..tunnel };
        prop_assert!(vxlan::admit(&received, Some(&receiver)).is_ok());
    }

    #[test]
    fn vxlan_arrival_never_panics_and_drops_only_for_vxlan_reasons(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        if let Arrival::Drop(reason) = vxlan::arrival(bytes.as_slice(), vxlan::DEFAULT_PORT) {
            prop_assert!(matches!(reason, DropReason::TruncatedOuter | DropReason::BadVxlanHeader));
        }
    }

    #[test]
    fn a_child_never_sends_to_itself(
        mode in proptest::sample::select(MODE_NUMBERS.to_vec()),
        dst in a_mac(),
        found in proptest::option::of((1u32..4, proptest::sample::select(MODE_NUMBERS.to_vec()))),
        asks in any::<bool>(),
    ) {
        let child = Child {
            ifindex: 1,
            parent: 9,
            mode,
            flags: 0,
            slot: 1,
            mac: [2, 0, 0, 0, 0, 1],
            _pad: [0; 2],
        };
        let other = found.map(|(ifindex, mode)| Child { ifindex, mode, ..child });
        let request = asks.then_some(Request::Arp {
            sender_mac: child.mac,
            sender: [10, 0, 0, 1],
            target: [10, 0, 0, 2],
        });
        let found = Found(other, request);
        match dispatch::departure(&child, &dst, &&found) {
            Departure::Sibling(to) => prop_assert_ne!(to.ifindex, child.ifindex),
            // Answered for another child's address only, never for its own.
            Departure::Answer { .. } => {
                prop_assert_ne!(other.map(|other| other.ifindex), Some(child.ifindex));
                prop_assert_eq!(child.mode(), Some(Mode::IpvlanL3));
            }
            Departure::Parent | Departure::Flood | Departure::Host => {}
        }
        if let Some(member) = other
            && dispatch::floods_to(&member, Origin::Sibling(&child), true)
        {
            prop_assert_ne!(member.ifindex, child.ifindex);
            prop_assert!(matches!(member.mode(), Some(Mode::Bridge | Mode::IpvlanL2)));
        }
    }
}

/// Every mode's number, and two that are no mode.
const MODE_NUMBERS: [u32; 9] = [0, 1, 2, 3, 4, 8, 16, 256, 257];

/// A lookup that finds one child (or none) for any address, and the frame's request if any.
struct Found(Option<Child>, Option<Request>);

impl<'a> Lookup<'a> for &'a Found {
    fn by_mac(&self, _: &MacAddr) -> Option<&'a Child> {
        self.0.as_ref()
    }

    fn by_ifindex(&self, ifindex: u32) -> Option<&'a Child> {
        self.0.as_ref().filter(|child| child.ifindex == ifindex)
    }

    fn by_address(&self) -> Option<&'a Child> {
        self.0.as_ref()
    }

    fn by_ip(&self, _: &Address) -> Option<&'a Child> {
        self.0.as_ref()
    }

    fn request(&self) -> Option<Request> {
        self.1
    }

    fn allows(&self, _: &Child, _: &MacAddr) -> bool {
        true
    }
}
