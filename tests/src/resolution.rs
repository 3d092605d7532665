//! Address resolution frames as hosts send them, built independently of the switch: ARP
//! requests and IPv6 neighbour solicitations, and the checks a receiver makes on replies.

use crate::frames::Mac;

/// An ARP request from `sender_mac` at `sender` for `target`, broadcast and padded to 60 bytes.
pub fn arp_request(sender_mac: Mac, sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&sender_mac);
    frame.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]);
    frame.extend_from_slice(&sender_mac);
    frame.extend_from_slice(&sender);
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target);
    frame.resize(60, 0);
    frame
}

/// A neighbour solicitation from `sender_mac` at `sender` for `target`, to the target's
/// solicited-node group, with its source link-layer option and checksum.
pub fn solicitation(sender_mac: Mac, sender: [u8; 16], target: [u8; 16]) -> Vec<u8> {
    let mut group = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0, 0, 0];
    group[13..].copy_from_slice(&target[13..]);
    let mut frame = vec![0x33, 0x33, 0xff, target[13], target[14], target[15]];
    frame.extend_from_slice(&sender_mac);
    frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 32, 58, 255]);
    frame.extend_from_slice(&sender);
    frame.extend_from_slice(&group);
    frame.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    frame.extend_from_slice(&target);
    frame.extend_from_slice(&[1, 1]);
    frame.extend_from_slice(&sender_mac);
    let sum = icmpv6_sum(&frame);
    frame[14 + 42..14 + 44].copy_from_slice(&(!sum).to_be_bytes());
    frame
}

/// Whether the ICMPv6 message in untagged IPv6 `frame` has a correct checksum, as a
/// receiver's stack checks it.
pub fn icmpv6_checksum_ok(frame: &[u8]) -> bool {
    icmpv6_sum(frame) == 0xffff
}

/// The one's complement sum of the IPv6 pseudo-header and the ICMPv6 message of `frame`.
fn icmpv6_sum(frame: &[u8]) -> u16 {
    let length = u16::from_be_bytes([frame[18], frame[19]]);
    let message = &frame[54..54 + usize::from(length)];
    let pseudo = [
        &frame[22..54],
        &u32::from(length).to_be_bytes(),
        &[0, 0, 0, 58],
    ]
    .concat();
    let total: u64 = [pseudo.as_slice(), message]
        .iter()
        .flat_map(|part| part.chunks(2))
        .map(|pair| u64::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    let folded = (total & 0xffff) + (total >> 16);
    ((folded & 0xffff) + (folded >> 16)) as u16
}
