//! Crafted Ethernet frames.

/// A MAC address in wire order.
pub type Mac = [u8; 6];

/// A locally administered unicast address ending in `n`.
pub const fn station(n: u8) -> Mac {
    [0x02, 0x00, 0x5e, 0x10, 0x00, n]
}

/// The IPv4 ethertype; frames here carry a marker, not a real packet.
const ETHERTYPE_EXPERIMENTAL: u16 = 0x88b5;

/// An untagged frame of 64 bytes whose payload starts with `marker`.
pub fn ethernet(dst: Mac, src: Mac, marker: u32) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64);
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ETHERTYPE_EXPERIMENTAL.to_be_bytes());
    frame.extend_from_slice(&marker.to_be_bytes());
    frame.resize(64, 0);
    frame
}

/// The same frame with an 802.1Q tag of `vid` after the addresses.
pub fn tagged(dst: Mac, src: Mac, vid: u16, marker: u32) -> Vec<u8> {
    let mut frame = ethernet(dst, src, marker);
    let tag = [0x81, 0x00, (vid >> 8) as u8, vid as u8];
    frame.splice(12..12, tag);
    frame
}

/// Whether `frame` carries `marker` right after its (possibly tagged) header.
pub fn has_marker(frame: &[u8], marker: u32) -> bool {
    let payload = if frame.get(12..14) == Some(&[0x81, 0x00]) {
        18
    } else {
        14
    };
    frame.get(payload..payload + 4) == Some(&marker.to_be_bytes())
}
