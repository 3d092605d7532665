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

/// An untagged IPv4/UDP frame (192.168.0.1 → 192.168.0.2, ports 1000 → 2000) whose UDP
/// payload starts with `marker`; the IP header checksum is left zero.
pub fn ipv4_udp(dst: Mac, src: Mac, marker: u32) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64);
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&[0x08, 0x00]);
    let payload = 18u16;
    let total = 20 + 8 + payload;
    frame.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        17,
        0,
        0,
    ]);
    frame.extend_from_slice(&[192, 168, 0, 1, 192, 168, 0, 2]);
    let udp_len = 8 + payload;
    frame.extend_from_slice(&[
        0x03,
        0xe8,
        0x07,
        0xd0,
        (udp_len >> 8) as u8,
        udp_len as u8,
        0,
        0,
    ]);
    frame.extend_from_slice(&marker.to_be_bytes());
    frame.resize(14 + total as usize, 0);
    frame
}

/// The outer headers of a VXLAN frame as a test writes them, independently of the switch.
#[derive(Clone, Copy, Debug)]
pub struct VxlanOuter {
    /// Outer source address (IPv4, or IPv6 when `v6` is set).
    pub src: [u8; 16],
    /// Outer destination address.
    pub dst: [u8; 16],
    /// Whether the outer header is IPv6 (addresses use all 16 bytes) or IPv4 (the first 4).
    pub v6: bool,
    /// UDP destination port.
    pub dstport: u16,
    /// The 8-byte VXLAN header.
    pub header: [u8; 8],
}

impl VxlanOuter {
    /// A well-formed VXLAN header for `vni`.
    pub const fn header(vni: u32) -> [u8; 8] {
        [
            0x08,
            0,
            0,
            0,
            (vni >> 16) as u8,
            (vni >> 8) as u8,
            vni as u8,
            0,
        ]
    }

    /// `inner` encapsulated behind these headers (outer MACs `station(0xaa)` → `station(0xbb)`).
    pub fn wrap(&self, inner: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        frame.extend_from_slice(&station(0xbb));
        frame.extend_from_slice(&station(0xaa));
        let udp_len = (8 + 8 + inner.len()) as u16;
        if self.v6 {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            frame.extend_from_slice(&udp_len.to_be_bytes());
            frame.extend_from_slice(&[17, 64]);
            frame.extend_from_slice(&self.src);
            frame.extend_from_slice(&self.dst);
        } else {
            let total = 20 + udp_len;
            frame.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
            frame.extend_from_slice(&total.to_be_bytes());
            frame.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            frame.extend_from_slice(&self.src[..4]);
            frame.extend_from_slice(&self.dst[..4]);
        }
        frame.extend_from_slice(&[0xc0, 0x01]);
        frame.extend_from_slice(&self.dstport.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(&self.header);
        frame.extend_from_slice(inner);
        frame
    }
}
