//! ARP/ND suppression on a switch that is one VTEP of several: an ARP request or neighbour
//! solicitation from a local port, in a VLAN that a tunnel carries, for an address whose
//! station another host published with its IP, is answered here instead of flooded across the
//! underlay. The controller fills the `NEIGHBOURS` map from the cluster's records; the reply
//! itself is [`neighbour::reply`].

use crate::{
    frame::Frame,
    ipvlan::Address,
    mac::MacAddr,
    neighbour::{self, Request},
};

/// How many (VLAN, address) pairs the `NEIGHBOURS` map holds.
pub const MAX_NEIGHBOURS: u32 = 1 << 16;

/// Key of the `NEIGHBOURS` map: an address (IPv4 mapped into IPv6) in a switch VLAN.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourKey {
    /// The switch VLAN.
    pub vlan: u16,
    /// Zero.
    pub _pad: u16,
    /// The address.
    pub address: Address,
}

/// The request in `frame` (network header at `l3`, in `vlan`) and the MAC it is answered with,
/// if it is an answerable request whose target `lookup` knows. A station asking for its own
/// address is not answered (its owner would not answer it either).
#[inline(always)]
pub fn answer<F: Frame + ?Sized>(
    frame: &F,
    l3: usize,
    vlan: u16,
    lookup: impl FnOnce(&NeighbourKey) -> Option<MacAddr>,
) -> Option<(Request, MacAddr)> {
    let request = neighbour::request(frame, l3)?;
    let key = NeighbourKey {
        vlan,
        _pad: 0,
        address: request.target(),
    };
    let mac = lookup(&key)?;
    (mac != request.sender_mac()).then_some((request, mac))
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers and a byte array without padding (2 + 2 + 16 bytes).
unsafe impl aya::Pod for NeighbourKey {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvlan::v4;

    const REQUESTER: MacAddr = [0x02, 0, 0, 0, 0, 0x01];
    const REMOTE: MacAddr = [0x02, 0, 0, 0, 0, 0x02];

    fn arp_request(target: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&REQUESTER);
        frame.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        frame.extend_from_slice(&REQUESTER);
        frame.extend_from_slice(&[10, 0, 0, 1]);
        frame.extend_from_slice(&[0; 6]);
        frame.extend_from_slice(&target);
        frame
    }

    fn known(key: &NeighbourKey) -> Option<MacAddr> {
        (key.vlan == 10 && key.address == v4([10, 0, 0, 2])).then_some(REMOTE)
    }

    #[test]
    fn a_request_for_a_known_remote_address_is_answered() {
        let frame = arp_request([10, 0, 0, 2]);
        let (request, mac) = answer(frame.as_slice(), 14, 10, known).expect("answered");
        assert_eq!(mac, REMOTE);
        assert_eq!(request.sender_mac(), REQUESTER);
    }

    #[test]
    fn unknown_addresses_other_vlans_and_other_frames_are_not() {
        assert_eq!(
            answer(arp_request([10, 0, 0, 3]).as_slice(), 14, 10, known),
            None
        );
        assert_eq!(
            answer(arp_request([10, 0, 0, 2]).as_slice(), 14, 20, known),
            None
        );
        let mut reply = arp_request([10, 0, 0, 2]);
        reply[21] = 2;
        assert_eq!(answer(reply.as_slice(), 14, 10, known), None);
        assert_eq!(answer(&reply[..30], 14, 10, known), None);
    }

    #[test]
    fn a_station_asking_for_its_own_address_is_not_answered() {
        let frame = arp_request([10, 0, 0, 2]);
        assert_eq!(answer(frame.as_slice(), 14, 10, |_| Some(REQUESTER)), None);
    }
}
