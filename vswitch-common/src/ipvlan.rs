//! ipvlan-style dispatch: children share their parent's MAC address and are told apart by the
//! IP address a frame is for. This module finds that address; `dispatch` decides with it.

use crate::frame::{ETH_HLEN, Frame};

/// An address in the `ADDRESSES` map: IPv6, or IPv4 mapped into IPv6 (`::ffff:a.b.c.d`).
pub type Address = [u8; 16];

/// `ETH_P_IP`.
const ETH_P_IP: u16 = 0x0800;
/// `ETH_P_IPV6`.
const ETH_P_IPV6: u16 = 0x86dd;
/// `ETH_P_ARP`.
const ETH_P_ARP: u16 = 0x0806;

/// The mapped form of IPv4 address `v4`.
pub const fn v4(v4: [u8; 4]) -> Address {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3],
    ]
}

/// The `ADDRESSES` key: a child's address behind a parent.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressKey {
    /// The parent's ifindex.
    pub parent: u32,
    /// The address.
    pub address: Address,
}

/// The address an untagged frame is for: an IPv4 or IPv6 packet's destination, or the target
/// of an ARP packet. `None` for anything else (tagged frames included).
#[inline(always)]
pub fn destination<F: Frame + ?Sized>(frame: &F) -> Option<Address> {
    let ethertype = u16::from_be_bytes(frame.read(12)?);
    match ethertype {
        ETH_P_IP => frame.read(ETH_HLEN + 16).map(v4),
        ETH_P_IPV6 => frame.read(ETH_HLEN + 24),
        ETH_P_ARP => frame.read(ETH_HLEN + 24).map(v4),
        _ => None,
    }
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integer and byte array without padding.
unsafe impl aya::Pod for AddressKey {}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ethertype: u16, len: usize) -> Vec<u8> {
        let mut frame = vec![0u8; len];
        frame[12..14].copy_from_slice(&ethertype.to_be_bytes());
        frame
    }

    #[test]
    fn finds_the_destination_of_ipv4_ipv6_and_arp() {
        let mut ipv4 = frame(ETH_P_IP, 34);
        ipv4[30..34].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(destination(ipv4.as_slice()), Some(v4([10, 0, 0, 2])));
        let mut ipv6 = frame(ETH_P_IPV6, 54);
        ipv6[38..54].copy_from_slice(&[0xfd; 16]);
        assert_eq!(destination(ipv6.as_slice()), Some([0xfd; 16]));
        let mut arp = frame(ETH_P_ARP, 42);
        arp[38..42].copy_from_slice(&[10, 0, 0, 3]);
        assert_eq!(destination(arp.as_slice()), Some(v4([10, 0, 0, 3])));
    }

    #[test]
    fn other_and_short_frames_have_none() {
        assert_eq!(destination(frame(0x8100, 60).as_slice()), None);
        assert_eq!(destination(frame(ETH_P_IP, 30).as_slice()), None);
        assert_eq!(destination([0u8; 4].as_slice()), None);
    }
}
