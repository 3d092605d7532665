//! The generators' frames: 64-byte Ethernet/IPv4/UDP with a zero UDP checksum.

use std::net::Ipv4Addr;

use crate::frames::Mac;

/// Length of every generated frame.
pub const FRAME_LEN: usize = 64;
/// UDP destination port: discard.
const DISCARD: u16 = 9;

/// Who sends to whom.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    /// Destination MAC.
    pub dst_mac: Mac,
    /// Source MAC.
    pub src_mac: Mac,
    /// Source address.
    pub src_ip: Ipv4Addr,
    /// Destination address.
    pub dst_ip: Ipv4Addr,
}

/// A frame of `flow` with UDP source port `port`.
pub fn frame(flow: &Flow, port: u16) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_LEN);
    frame.extend_from_slice(&flow.dst_mac);
    frame.extend_from_slice(&flow.src_mac);
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (FRAME_LEN - 14) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&flow.src_ip.octets());
    ip[16..20].copy_from_slice(&flow.dst_ip.octets());
    let checksum = !ip
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .fold(0u32, |sum, word| {
            let sum = sum + word;
            (sum & 0xffff) + (sum >> 16)
        }) as u16;
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&port.to_be_bytes());
    frame.extend_from_slice(&DISCARD.to_be_bytes());
    frame.extend_from_slice(&(ip_len - 20).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.resize(FRAME_LEN, 0);
    frame
}
