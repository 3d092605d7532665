//! Answering address resolution on behalf of stations the switch knows: an ARP request
//! (RFC 826) or an IPv6 neighbour solicitation (RFC 4861) becomes its reply in place, so that
//! the request never has to be flooded.
//!
//! [`request`] recognises what may be answered and [`reply`] builds the bytes that change.
//! The reply has the request's length for both protocols (an ARP packet is 28 bytes either
//! way; a solicitation with its source link-layer option and an advertisement with its target
//! link-layer option are both 72 bytes of IPv6), so a datapath rewrites the frame without
//! growing it and sends it back out of the port it came from.
//!
//! Nothing is answered that the owner itself would not answer, or that must reach it:
//! ARP probes and announcements (RFC 5227), duplicate address detection (a solicitation from
//! the unspecified address), solicitations for a multicast target, and anything malformed.

use crate::{
    frame::Frame,
    ipvlan::{Address, v4},
    mac::{self, MacAddr},
};

/// `ETH_P_ARP`.
const ETH_P_ARP: u16 = 0x0806;
/// `ETH_P_IPV6`.
const ETH_P_IPV6: u16 = 0x86dd;
/// ARP operation: request.
const ARPOP_REQUEST: u8 = 1;
/// ARP operation: reply.
const ARPOP_REPLY: u16 = 2;
/// IPv6 next header: ICMPv6.
const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 type: neighbour solicitation.
const NDISC_NEIGHBOUR_SOLICITATION: u8 = 135;
/// ICMPv6 type: neighbour advertisement.
const NDISC_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// Neighbour discovery option: source link-layer address.
const ND_OPT_SOURCE_LL_ADDR: u8 = 1;
/// Neighbour discovery option: target link-layer address.
const ND_OPT_TARGET_LL_ADDR: u8 = 2;
/// Neighbour advertisement flags: solicited and override (not a router).
const NA_SOLICITED_OVERRIDE: [u8; 4] = [0x60, 0, 0, 0];
/// Hop limit of every neighbour discovery message.
const ND_HOP_LIMIT: u8 = 255;

/// Length of an ARP packet for IPv4 over Ethernet.
const ARP_LEN: usize = 28;
/// Length of the IPv6 header.
const IPV6_HLEN: usize = 40;
/// Length of the ICMPv6 part: header, reserved or flags, target, one 8-byte option.
const ND_BODY_LEN: usize = 32;

/// A request the switch may answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// An ARP request for an IPv4 address.
    Arp {
        /// The requester's hardware address.
        sender_mac: MacAddr,
        /// The requester's IPv4 address.
        sender: [u8; 4],
        /// The address asked for.
        target: [u8; 4],
    },
    /// A neighbour solicitation for an IPv6 address.
    Solicitation {
        /// The requester's link-layer address, from its source link-layer option.
        sender_mac: MacAddr,
        /// The requester's IPv6 address.
        sender: [u8; 16],
        /// The address asked for.
        target: [u8; 16],
    },
}

impl Request {
    /// The address asked for, IPv4 mapped into IPv6 as [`ipvlan::Address`](Address) is.
    #[inline(always)]
    pub const fn target(&self) -> Address {
        match self {
            Self::Arp { target, .. } => v4(*target),
            Self::Solicitation { target, .. } => *target,
        }
    }

    /// The requester's address, in the same form.
    #[inline(always)]
    pub const fn sender(&self) -> Address {
        match self {
            Self::Arp { sender, .. } => v4(*sender),
            Self::Solicitation { sender, .. } => *sender,
        }
    }

    /// The requester's link-layer address, where the reply goes.
    #[inline(always)]
    pub const fn sender_mac(&self) -> MacAddr {
        match self {
            Self::Arp { sender_mac, .. } | Self::Solicitation { sender_mac, .. } => *sender_mac,
        }
    }
}

/// The request in `frame`, whose network header starts at `l3` (after the Ethernet header and
/// any tags in the data), if it is one the switch may answer.
#[inline(always)]
pub fn request<F: Frame + ?Sized>(frame: &F, l3: usize) -> Option<Request> {
    let ethertype = u16::from_be_bytes(frame.read(l3.checked_sub(2)?)?);
    match ethertype {
        ETH_P_ARP => arp_request(frame, l3),
        ETH_P_IPV6 => solicitation(frame, l3),
        _ => None,
    }
}

/// An answerable ARP request at `l3`.
#[inline(always)]
fn arp_request<F: Frame + ?Sized>(frame: &F, l3: usize) -> Option<Request> {
    let header: [u8; 8] = frame.read(l3)?;
    if header != [0, 1, 8, 0, 6, 4, 0, ARPOP_REQUEST] {
        return None;
    }
    let sender_mac: MacAddr = frame.read(l3 + 8)?;
    let sender: [u8; 4] = frame.read(l3 + 14)?;
    let target: [u8; 4] = frame.read(l3 + 24)?;
    // A probe has no sender address; an announcement asks for its own.
    if sender == [0; 4] || target == [0; 4] || sender == target || !valid_station(&sender_mac) {
        return None;
    }
    Some(Request::Arp {
        sender_mac,
        sender,
        target,
    })
}

/// An answerable neighbour solicitation at `l3`: IPv6 header, then ICMPv6 with nothing but
/// the requester's source link-layer option, and a correct checksum.
#[inline(always)]
fn solicitation<F: Frame + ?Sized>(frame: &F, l3: usize) -> Option<Request> {
    let header: [u8; 8] = frame.read(l3)?;
    if header[0] >> 4 != 6 || header[4..8] != [0, ND_BODY_LEN as u8, IPPROTO_ICMPV6, ND_HOP_LIMIT] {
        return None;
    }
    let sender: [u8; 16] = frame.read(l3 + 8)?;
    let destination: [u8; 16] = frame.read(l3 + 24)?;
    let icmp: [u8; 8] = frame.read(l3 + ND_ICMP_AT)?;
    let target: [u8; 16] = frame.read(l3 + ND_TARGET_AT)?;
    let option: [u8; 8] = frame.read(l3 + ND_OPTION_AT)?;
    if icmp[..2] != [NDISC_NEIGHBOUR_SOLICITATION, 0]
        || option[..2] != [ND_OPT_SOURCE_LL_ADDR, 1]
        || checksum(sum(&sender) + sum(&destination) + sum(&icmp) + sum(&target) + sum(&option))
            != 0
    {
        return None;
    }
    let mut sender_mac = [0u8; 6];
    sender_mac.copy_from_slice(&option[2..]);
    // Duplicate address detection comes from the unspecified address; a multicast target is
    // not a neighbour.
    if sender == [0; 16] || target[0] == 0xff || !valid_station(&sender_mac) {
        return None;
    }
    Some(Request::Solicitation {
        sender_mac,
        sender,
        target,
    })
}

/// Where an ARP reply's changes start: the operation, then the four addresses.
pub const ARP_PATCH_AT: usize = 6;
/// Where an advertisement's IPv6 addresses are, from the network header.
pub const ND_ADDRESSES_AT: usize = 8;
/// Where the ICMPv6 header is, from the network header.
pub const ND_ICMP_AT: usize = IPV6_HLEN;
/// Where the target address is, from the network header.
const ND_TARGET_AT: usize = IPV6_HLEN + 8;
/// Where the link-layer address option is, from the network header.
pub const ND_OPTION_AT: usize = IPV6_HLEN + 24;

/// What turns an answered request into its reply: the Ethernet addresses at the frame's
/// start, and the bytes of the network packet that change. Everything else (ARP's fixed
/// header, the IPv6 header's first 8 bytes, the target address) is the same in both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Destination (the requester) and source (the answer) addresses.
    pub addresses: [u8; 12],
    /// The network packet's changes.
    pub patch: Patch,
}

/// The changed bytes of a [`Reply`]'s network packet, one kind per protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patch {
    /// An ARP reply: the bytes from [`ARP_PATCH_AT`].
    Arp([u8; ARP_LEN - ARP_PATCH_AT]),
    /// A neighbour advertisement.
    Advertisement {
        /// Source (the target) and destination (the requester), at [`ND_ADDRESSES_AT`].
        addresses: [u8; 32],
        /// Type, code, checksum and flags, at [`ND_ICMP_AT`].
        icmp: [u8; 8],
        /// The target link-layer address option, at [`ND_OPTION_AT`].
        option: [u8; 8],
    },
}

/// The reply to `request` saying that its target is at `answer`.
#[inline(always)]
pub fn reply(request: &Request, answer: &MacAddr) -> Reply {
    let requester = request.sender_mac();
    let mut addresses = [0u8; 12];
    addresses[..6].copy_from_slice(&requester);
    addresses[6..].copy_from_slice(answer);
    let patch = match request {
        Request::Arp { sender, target, .. } => {
            let mut bytes = [0u8; ARP_LEN - ARP_PATCH_AT];
            bytes[..2].copy_from_slice(&ARPOP_REPLY.to_be_bytes());
            bytes[2..8].copy_from_slice(answer);
            bytes[8..12].copy_from_slice(target);
            bytes[12..18].copy_from_slice(&requester);
            bytes[18..22].copy_from_slice(sender);
            Patch::Arp(bytes)
        }
        Request::Solicitation { sender, target, .. } => {
            let mut ips = [0u8; 32];
            ips[..16].copy_from_slice(target);
            ips[16..].copy_from_slice(sender);
            let mut option = [ND_OPT_TARGET_LL_ADDR, 1, 0, 0, 0, 0, 0, 0];
            option[2..].copy_from_slice(answer);
            let mut icmp = [NDISC_NEIGHBOUR_ADVERTISEMENT, 0, 0, 0, 0, 0, 0, 0];
            icmp[4..].copy_from_slice(&NA_SOLICITED_OVERRIDE);
            let value = checksum(sum(&ips) + sum(&icmp) + sum(target) + sum(&option));
            icmp[2..4].copy_from_slice(&value.to_be_bytes());
            Patch::Advertisement {
                addresses: ips,
                icmp,
                option,
            }
        }
    };
    Reply { addresses, patch }
}

/// Whether `mac` can be a station's own address (a reply sent to it reaches one station).
#[inline(always)]
const fn valid_station(mac: &MacAddr) -> bool {
    !mac::is_group(mac) && !mac::is_zero(mac)
}

/// The ICMPv6 checksum (RFC 8200, section 8.1) of a neighbour discovery message, from `words`,
/// the [`sum`] of its pseudo-header addresses and its body: zero when the body holds a correct
/// one, else the value to store in it. (Sums of fixed arrays, not a list of slices: the eBPF
/// programs that answer have little stack to spare.)
#[inline(always)]
fn checksum(words: u32) -> u16 {
    let mut sum = u32::from(IPPROTO_ICMPV6) + ND_BODY_LEN as u32 + words;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The sum of the big-endian 16-bit words of `bytes` (`N` even), for [`checksum`].
#[inline(always)]
fn sum<const N: usize>(bytes: &[u8; N]) -> u32 {
    let mut total = 0;
    let mut at = 0;
    while at + 1 < N {
        total += u32::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
        at += 2;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUESTER: MacAddr = [0x02, 0, 0, 0, 0, 0x01];
    const ANSWER: MacAddr = [0x02, 0, 0, 0, 0, 0xfe];
    const SENDER6: [u8; 16] = [0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const TARGET6: [u8; 16] = [0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// An ARP request frame (untagged, unpadded) from [`REQUESTER`] 10.0.0.1 for `target`.
    fn arp(sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&REQUESTER);
        frame.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        frame.extend_from_slice(&REQUESTER);
        frame.extend_from_slice(&sender);
        frame.extend_from_slice(&[0; 6]);
        frame.extend_from_slice(&target);
        frame
    }

    /// A neighbour solicitation frame from [`REQUESTER`] at `sender` for `target`, with a
    /// correct checksum.
    fn solicitation_frame(sender: [u8; 16], target: [u8; 16]) -> Vec<u8> {
        let mut destination = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
        destination[13..].copy_from_slice(&target[13..]);
        let mut body = [0u8; ND_BODY_LEN];
        body[0] = NDISC_NEIGHBOUR_SOLICITATION;
        body[8..24].copy_from_slice(&target);
        body[24] = ND_OPT_SOURCE_LL_ADDR;
        body[25] = 1;
        body[26..32].copy_from_slice(&REQUESTER);
        let value = checksum(sum(&sender) + sum(&destination) + sum(&body));
        body[2..4].copy_from_slice(&value.to_be_bytes());
        let mut frame = vec![0x33, 0x33, 0xff, target[13], target[14], target[15]];
        frame.extend_from_slice(&REQUESTER);
        frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255]);
        frame.extend_from_slice(&sender);
        frame.extend_from_slice(&destination);
        frame.extend_from_slice(&body);
        frame
    }

    /// Writes `reply` over `frame`, as a datapath does.
    fn apply(frame: &mut [u8], reply: &Reply) {
        frame[..12].copy_from_slice(&reply.addresses);
        let l3 = 14;
        match &reply.patch {
            Patch::Arp(bytes) => frame[l3 + ARP_PATCH_AT..l3 + ARP_LEN].copy_from_slice(bytes),
            Patch::Advertisement {
                addresses,
                icmp,
                option,
            } => {
                frame[l3 + ND_ADDRESSES_AT..][..32].copy_from_slice(addresses);
                frame[l3 + ND_ICMP_AT..][..8].copy_from_slice(icmp);
                frame[l3 + ND_OPTION_AT..][..8].copy_from_slice(option);
            }
        }
    }

    #[test]
    fn an_arp_request_becomes_the_reply_linux_would_send() {
        let mut frame = arp([10, 0, 0, 1], [10, 0, 0, 2]);
        let request = request(frame.as_slice(), 14).expect("answerable");
        assert_eq!(request.target(), v4([10, 0, 0, 2]));
        assert_eq!(request.sender(), v4([10, 0, 0, 1]));
        apply(&mut frame, &reply(&request, &ANSWER));
        let mut expected = REQUESTER.to_vec();
        expected.extend_from_slice(&ANSWER);
        expected.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
        expected.extend_from_slice(&ANSWER);
        expected.extend_from_slice(&[10, 0, 0, 2]);
        expected.extend_from_slice(&REQUESTER);
        expected.extend_from_slice(&[10, 0, 0, 1]);
        assert_eq!(frame, expected);
        // A reply is not a request.
        assert_eq!(super::request(frame.as_slice(), 14), None);
    }

    #[test]
    fn probes_announcements_and_odd_arp_are_not_answered() {
        assert_eq!(request(arp([0; 4], [10, 0, 0, 2]).as_slice(), 14), None);
        assert_eq!(
            request(arp([10, 0, 0, 2], [10, 0, 0, 2]).as_slice(), 14),
            None
        );
        assert_eq!(request(arp([10, 0, 0, 1], [0; 4]).as_slice(), 14), None);
        for (at, value) in [(15, 6), (17, 0x86), (18, 8), (21, 3)] {
            let mut frame = arp([10, 0, 0, 1], [10, 0, 0, 2]);
            frame[at] = value;
            assert_eq!(request(frame.as_slice(), 14), None, "byte {at} = {value}");
        }
        let mut group_sender = arp([10, 0, 0, 1], [10, 0, 0, 2]);
        group_sender[22] = 0x01;
        assert_eq!(request(group_sender.as_slice(), 14), None);
        let whole = arp([10, 0, 0, 1], [10, 0, 0, 2]);
        for cut in 0..whole.len() {
            assert_eq!(request(&whole[..cut], 14), None, "cut at {cut}");
        }
    }

    #[test]
    fn a_tagged_request_is_found_after_its_tag() {
        let mut frame = arp([10, 0, 0, 1], [10, 0, 0, 2]);
        frame.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
        assert!(request(frame.as_slice(), 18).is_some());
        assert_eq!(request(frame.as_slice(), 14), None);
    }

    #[test]
    fn a_solicitation_becomes_a_checksummed_advertisement() {
        let mut frame = solicitation_frame(SENDER6, TARGET6);
        let request = request(frame.as_slice(), 14).expect("answerable");
        assert_eq!(request.target(), TARGET6);
        assert_eq!(request.sender_mac(), REQUESTER);
        apply(&mut frame, &reply(&request, &ANSWER));
        assert_eq!(&frame[..6], &REQUESTER);
        assert_eq!(&frame[6..12], &ANSWER);
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        let packet: [u8; IPV6_HLEN + ND_BODY_LEN] = frame[14..].try_into().expect("one packet");
        assert_eq!(&packet[..8], &[0x60, 0, 0, 0, 0, 32, 58, 255]);
        assert_eq!(&packet[8..24], &TARGET6, "from the target");
        assert_eq!(&packet[24..40], &SENDER6, "to the requester");
        let body: [u8; ND_BODY_LEN] = packet[40..].try_into().expect("one body");
        assert_eq!(body[0], NDISC_NEIGHBOUR_ADVERTISEMENT);
        assert_eq!(&body[4..8], &NA_SOLICITED_OVERRIDE);
        assert_eq!(&body[8..24], &TARGET6);
        assert_eq!(&body[24..32], &[2, 1, 2, 0, 0, 0, 0, 0xfe]);
        assert_eq!(
            checksum(sum(&TARGET6) + sum(&SENDER6) + sum(&body)),
            0,
            "checksum verifies"
        );
    }

    #[test]
    fn dad_multicast_targets_and_bad_checksums_are_not_answered() {
        assert_eq!(
            request(solicitation_frame([0; 16], TARGET6).as_slice(), 14),
            None
        );
        let mut multicast = TARGET6;
        multicast[0] = 0xff;
        assert_eq!(
            request(solicitation_frame(SENDER6, multicast).as_slice(), 14),
            None
        );
        let mut corrupt = solicitation_frame(SENDER6, TARGET6);
        corrupt[14 + 40 + 10] ^= 1;
        assert_eq!(request(corrupt.as_slice(), 14), None);
        for (at, value) in [
            (14 + 7, 64),
            (14 + 6, 17),
            (14 + 5, 40),
            (14 + 40, 136),
            (14 + 64, 2),
        ] {
            let mut frame = solicitation_frame(SENDER6, TARGET6);
            frame[at] = value;
            assert_eq!(request(frame.as_slice(), 14), None, "byte {at} = {value}");
        }
        let whole = solicitation_frame(SENDER6, TARGET6);
        assert_eq!(request(&whole[..whole.len() - 1], 14), None);
    }

    #[test]
    fn other_protocols_and_offsets_are_not_requests() {
        let mut frame = arp([10, 0, 0, 1], [10, 0, 0, 2]);
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(request(frame.as_slice(), 14), None);
        assert_eq!(request(frame.as_slice(), 1), None);
        assert_eq!(request(frame.as_slice(), 0), None);
    }
}
