//! VXLAN (RFC 7348): the tunnels the controller configures, the outer headers the datapath
//! writes when it encapsulates, and the checks it makes before it decapsulates.
//!
//! Both directions are plain functions over bytes, so the host tests check every field the
//! eBPF programs put on the wire and every frame they refuse.

use crate::{frame::Frame, port::PortConfig, stats::DropReason};

/// The IANA port for VXLAN, the default destination port.
pub const DEFAULT_PORT: u16 = 4789;

/// Length of the VXLAN header.
pub const VXLAN_HLEN: usize = 8;
/// Length of the outer Ethernet header (untagged).
pub const OUTER_ETH_HLEN: usize = 14;
/// Length of an IPv4 header without options, as the encapsulation writes it.
pub const IPV4_HLEN: usize = 20;
/// Length of an IPv6 header.
pub const IPV6_HLEN: usize = 40;
/// Length of a UDP header.
pub const UDP_HLEN: usize = 8;

/// Bytes that encapsulation adds in front of the inner frame over an IPv4 underlay.
pub const IPV4_OVERHEAD: usize = OUTER_ETH_HLEN + IPV4_HLEN + UDP_HLEN + VXLAN_HLEN;
/// Bytes that encapsulation adds in front of the inner frame over an IPv6 underlay.
pub const IPV6_OVERHEAD: usize = OUTER_ETH_HLEN + IPV6_HLEN + UDP_HLEN + VXLAN_HLEN;

/// The VXLAN flags byte with only the I flag (a valid VNI follows) set.
pub const FLAG_VNI: u8 = 0x08;
/// The largest VNI (24 bits).
pub const MAX_VNI: u32 = (1 << 24) - 1;

/// Most remote VTEPs one VNI floods to (head-end replication; a bounded loop).
pub const MAX_REMOTES: usize = 32;
/// Most `[[vxlan]]` sections (tunnels) on one switch.
pub const MAX_TUNNELS: u32 = 64;

/// Hop limit of the outer IP header.
pub const OUTER_TTL: u8 = 64;
/// Ethertype of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// The lowest UDP source port encapsulation uses: source ports are 49152–65535, the dynamic
/// range, as RFC 7348 recommends.
pub const SOURCE_PORT_BASE: u16 = 49152;

/// A VTEP's IP address: IPv6, or IPv4 mapped into IPv6 (`::ffff:a.b.c.d`), in wire order.
pub type Vtep = [u8; 16];

/// No VTEP: the remote of a local FDB entry.
pub const NO_VTEP: Vtep = [0; 16];

/// The IPv4-mapped form of `addr`.
#[inline(always)]
pub const fn vtep_v4(addr: [u8; 4]) -> Vtep {
    let [a, b, c, d] = addr;
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]
}

/// The IPv4 address of an IPv4-mapped VTEP, `None` for IPv6.
#[inline(always)]
pub fn vtep_ipv4(vtep: &Vtep) -> Option<[u8; 4]> {
    let prefix = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
    if vtep[..12] == prefix {
        Some([vtep[12], vtep[13], vtep[14], vtep[15]])
    } else {
        None
    }
}

/// One `[[vxlan]]` section as the datapath reads it, keyed by VNI in `TUNNELS` and by VLAN in
/// `TUNNEL_VLANS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tunnel {
    /// The VXLAN network identifier.
    pub vni: u32,
    /// Ifindex of the underlay interface.
    pub underlay: u32,
    /// Destination UDP port of encapsulated frames, host order.
    pub dstport: u16,
    /// Reserved, zero.
    pub _pad: [u16; 3],
    /// The local VTEP address (the outer source).
    pub local: Vtep,
    /// The tunnel as a port of the switch: an access port in the tunnel's VLAN, whose counter
    /// slot counts decapsulated frames as received and encapsulated ones as transmitted, and
    /// whose learning flag says whether inner sources are learned.
    pub port: PortConfig,
}

impl Tunnel {
    /// Whether the underlay is IPv6.
    #[inline(always)]
    pub fn is_ipv6(&self) -> bool {
        vtep_ipv4(&self.local).is_none()
    }

    /// Bytes encapsulation adds in front of an inner frame.
    #[inline(always)]
    pub fn overhead(&self) -> usize {
        if self.is_ipv6() {
            IPV6_OVERHEAD
        } else {
            IPV4_OVERHEAD
        }
    }
}

/// An underlay interface as its decapsulation program reads it, keyed by ifindex in
/// `UNDERLAYS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Underlay {
    /// The counter slot of frames refused before their tunnel is known.
    pub slot: u32,
    /// The UDP port VXLAN frames arrive on, host order (one per underlay).
    pub dstport: u16,
    /// Reserved, zero.
    pub _pad: u16,
}

/// How to reach a remote VTEP on the underlay, keyed by its address in `NEXT_HOPS`: the
/// controller resolves it from the kernel's routing and neighbour tables.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    /// The egress interface.
    pub ifindex: u32,
    /// Its MTU: a non-GSO encapsulated frame must fit in it.
    pub mtu: u16,
    /// The next hop's MAC address (the outer destination).
    pub dst_mac: [u8; 6],
    /// The egress interface's MAC address (the outer source).
    pub src_mac: [u8; 6],
    /// Reserved, zero.
    pub _pad: u16,
}

/// The remote VTEPs one VNI floods to, keyed by VNI in `TUNNEL_FLOOD`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteSet {
    /// How many entries of `remotes` are used.
    pub len: u32,
    /// The VTEP addresses.
    pub remotes: [Vtep; MAX_REMOTES],
}

impl RemoteSet {
    /// The empty set.
    pub const EMPTY: Self = Self {
        len: 0,
        remotes: [NO_VTEP; MAX_REMOTES],
    };
}

/// The UDP source port of an encapsulated frame whose inner flow hashes to `hash`.
#[inline(always)]
pub const fn source_port(hash: u32) -> u16 {
    SOURCE_PORT_BASE | (hash as u16 & 0x3fff)
}

/// The one's-complement sum of `bytes` taken as big-endian 16-bit words, folded to 16 bits.
#[inline(always)]
fn fold_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut index = 0;
    while index + 1 < bytes.len() {
        sum += u32::from(u16::from_be_bytes([bytes[index], bytes[index + 1]]));
        index += 2;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The fields of the outer headers that vary per frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    /// The next hop towards the remote VTEP.
    pub next_hop: NextHop,
    /// The remote VTEP.
    pub remote: Vtep,
    /// UDP source port ([`source_port`]).
    pub src_port: u16,
    /// Length of the inner frame, Ethernet header included.
    pub inner_len: u16,
}

/// Length of the headers [`encap_v4`] writes: the outer headers plus the inner Ethernet header.
pub const V4_HEADERS: usize = IPV4_OVERHEAD + OUTER_ETH_HLEN;
/// Length of the headers [`encap_v6`] writes.
pub const V6_HEADERS: usize = IPV6_OVERHEAD + OUTER_ETH_HLEN;

/// Writes the outer Ethernet header at the start of `out`.
#[inline(always)]
fn write_eth(out: &mut [u8], outer: &Outer, ethertype: u16) {
    out[0..6].copy_from_slice(&outer.next_hop.dst_mac);
    out[6..12].copy_from_slice(&outer.next_hop.src_mac);
    out[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

/// Writes the UDP and VXLAN headers at the start of `out`. The UDP checksum is zero: RFC 7348
/// allows it over IPv4, RFC 6935 for tunnels over IPv6 (the receiver must accept it, as Linux
/// does with `udp6zerocsumrx`), and segmentation of a GSO frame would write zero anyway.
#[inline(always)]
fn write_udp_vxlan(out: &mut [u8], outer: &Outer, tunnel: &Tunnel, udp_len: u16) {
    out[0..2].copy_from_slice(&outer.src_port.to_be_bytes());
    out[2..4].copy_from_slice(&tunnel.dstport.to_be_bytes());
    out[4..6].copy_from_slice(&udp_len.to_be_bytes());
    out[6..8].copy_from_slice(&[0, 0]);
    let vni = (tunnel.vni & MAX_VNI).to_be_bytes();
    out[8..16].copy_from_slice(&[FLAG_VNI, 0, 0, 0, vni[1], vni[2], vni[3], 0]);
}

/// The headers of an inner frame encapsulated over IPv4, ending with the inner frame's own
/// Ethernet header `inner_eth`: outer Ethernet, IPv4 (DF set, TTL 64, checksummed), UDP, VXLAN.
#[inline(always)]
pub fn encap_v4(
    tunnel: &Tunnel,
    outer: &Outer,
    inner_eth: &[u8; OUTER_ETH_HLEN],
) -> [u8; V4_HEADERS] {
    let mut out = [0u8; V4_HEADERS];
    write_eth(&mut out, outer, ETH_P_IP);
    let local = vtep_ipv4(&tunnel.local).unwrap_or([0; 4]);
    let remote = vtep_ipv4(&outer.remote).unwrap_or([0; 4]);
    let udp_len = outer.inner_len + (UDP_HLEN + VXLAN_HLEN) as u16;
    let total = udp_len + IPV4_HLEN as u16;
    let ip = &mut out[OUTER_ETH_HLEN..OUTER_ETH_HLEN + IPV4_HLEN];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    // Identification 0 with DF set (RFC 6864: atomic datagrams).
    ip[6] = 0x40;
    ip[8] = OUTER_TTL;
    ip[9] = IPPROTO_UDP;
    ip[12..16].copy_from_slice(&local);
    ip[16..20].copy_from_slice(&remote);
    let checksum = !fold_sum(ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    let udp = OUTER_ETH_HLEN + IPV4_HLEN;
    write_udp_vxlan(&mut out[udp..], outer, tunnel, udp_len);
    out[IPV4_OVERHEAD..].copy_from_slice(inner_eth);
    out
}

/// The headers of an inner frame encapsulated over IPv6, like [`encap_v4`]; the flow label
/// carries the UDP source port's entropy for ECMP.
#[inline(always)]
pub fn encap_v6(
    tunnel: &Tunnel,
    outer: &Outer,
    inner_eth: &[u8; OUTER_ETH_HLEN],
) -> [u8; V6_HEADERS] {
    let mut out = [0u8; V6_HEADERS];
    write_eth(&mut out, outer, ETH_P_IPV6);
    let udp_len = outer.inner_len + (UDP_HLEN + VXLAN_HLEN) as u16;
    let ip = &mut out[OUTER_ETH_HLEN..OUTER_ETH_HLEN + IPV6_HLEN];
    let label = u32::from(outer.src_port) & 0x000f_ffff;
    ip[0..4].copy_from_slice(&(0x6000_0000 | label).to_be_bytes());
    ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
    ip[6] = IPPROTO_UDP;
    ip[7] = OUTER_TTL;
    ip[8..24].copy_from_slice(&tunnel.local);
    ip[24..40].copy_from_slice(&outer.remote);
    let udp = OUTER_ETH_HLEN + IPV6_HLEN;
    write_udp_vxlan(&mut out[udp..], outer, tunnel, udp_len);
    out[IPV6_OVERHEAD..].copy_from_slice(inner_eth);
    out
}

/// A VXLAN frame received on an underlay, checked and ready to decapsulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The VNI.
    pub vni: u32,
    /// The outer source address: the remote VTEP the inner source is learned behind.
    pub remote: Vtep,
    /// The outer destination address, which must be the tunnel's local VTEP.
    pub local: Vtep,
    /// Bytes in front of the inner frame (outer headers and VXLAN header).
    pub outer_len: usize,
    /// Whether the outer header is IPv6.
    pub outer_v6: bool,
}

/// What the underlay does with a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Not VXLAN for this switch (another protocol, another UDP port, a fragment): the host's
    /// stack gets it.
    Pass,
    /// A VXLAN frame whose headers are well formed.
    Vxlan(Received),
    /// Addressed to the VXLAN port but malformed: dropped and counted.
    Drop(DropReason),
}

/// Classifies a frame received on an underlay whose VXLAN port is `dstport`.
///
/// Only untagged IPv4 (without fragments) and IPv6 (UDP as the next header) frames to
/// `dstport` are VXLAN; everything else passes to the stack. A VXLAN frame too short for the
/// VXLAN header and an inner Ethernet header is [`DropReason::TruncatedOuter`]; one whose flags
/// are not exactly the I flag or whose reserved bits are set is
/// [`DropReason::BadVxlanHeader`].
#[inline(always)]
pub fn arrival<F: Frame + ?Sized>(frame: &F, dstport: u16) -> Arrival {
    let Some(ethertype) = frame.read::<2>(OUTER_ETH_HLEN - 2) else {
        return Arrival::Pass;
    };
    let (udp, remote, local, outer_v6) = match u16::from_be_bytes(ethertype) {
        ETH_P_IP => {
            let Some(ip) = frame.read::<IPV4_HLEN>(OUTER_ETH_HLEN) else {
                return Arrival::Pass;
            };
            let fragmented = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
            if ip[0] >> 4 != 4 || ip[0] & 0x0f < 5 || ip[9] != IPPROTO_UDP || fragmented {
                return Arrival::Pass;
            }
            let header = usize::from(ip[0] & 0x0f) * 4;
            (
                OUTER_ETH_HLEN + header,
                vtep_v4([ip[12], ip[13], ip[14], ip[15]]),
                vtep_v4([ip[16], ip[17], ip[18], ip[19]]),
                false,
            )
        }
        ETH_P_IPV6 => {
            let Some(ip) = frame.read::<IPV6_HLEN>(OUTER_ETH_HLEN) else {
                return Arrival::Pass;
            };
            if ip[0] >> 4 != 6 || ip[6] != IPPROTO_UDP {
                return Arrival::Pass;
            }
            let mut remote = NO_VTEP;
            remote.copy_from_slice(&ip[8..24]);
            let mut local = NO_VTEP;
            local.copy_from_slice(&ip[24..40]);
            (OUTER_ETH_HLEN + IPV6_HLEN, remote, local, true)
        }
        _ => return Arrival::Pass,
    };
    let Some(ports) = frame.read::<4>(udp) else {
        return Arrival::Pass;
    };
    if u16::from_be_bytes([ports[2], ports[3]]) != dstport {
        return Arrival::Pass;
    }
    let vxlan = udp + UDP_HLEN;
    let outer_len = vxlan + VXLAN_HLEN;
    let (Some(header), Some(_)) = (
        frame.read::<VXLAN_HLEN>(vxlan),
        frame.read::<OUTER_ETH_HLEN>(outer_len),
    ) else {
        return Arrival::Drop(DropReason::TruncatedOuter);
    };
    if header[0] != FLAG_VNI || header[1] | header[2] | header[3] | header[7] != 0 {
        return Arrival::Drop(DropReason::BadVxlanHeader);
    }
    Arrival::Vxlan(Received {
        vni: u32::from_be_bytes([0, header[4], header[5], header[6]]),
        remote,
        local,
        outer_len,
        outer_v6,
    })
}

/// Checks a well-formed VXLAN frame against its VNI's tunnel (`None`: the VNI is not
/// configured). The tunnel it belongs to, or why it is dropped.
///
/// Its outer addresses must be of the outer header's family: an IPv6 header holding
/// IPv4-mapped addresses (the form the datapath keeps IPv4 VTEPs in) is not addressed to an
/// IPv4 tunnel's local VTEP, and must not teach the FDB an IPv4 remote.
#[inline(always)]
pub fn admit<'a>(
    received: &Received,
    tunnel: Option<&'a Tunnel>,
) -> Result<&'a Tunnel, DropReason> {
    let Some(tunnel) = tunnel else {
        return Err(DropReason::UnknownVni);
    };
    let of_its_family = |vtep: &Vtep| vtep_ipv4(vtep).is_none() == received.outer_v6;
    if received.local != tunnel.local
        || !of_its_family(&received.local)
        || !of_its_family(&received.remote)
    {
        return Err(DropReason::NotLocalVtep);
    }
    Ok(tunnel)
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers and byte arrays; `_pad` makes the padding explicit.
unsafe impl aya::Pod for Tunnel {}
#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers; `_pad` makes the padding explicit.
unsafe impl aya::Pod for Underlay {}
#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers and byte arrays with no padding.
unsafe impl aya::Pod for RemoteSet {}
#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers and byte arrays; `_pad` makes the padding explicit (20 bytes).
unsafe impl aya::Pod for NextHop {}

#[cfg(test)]
mod tests {
    use super::*;

    const INNER_ETH: [u8; 14] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];

    fn tunnel(local: Vtep) -> Tunnel {
        Tunnel {
            vni: 100,
            underlay: 7,
            dstport: DEFAULT_PORT,
            _pad: [0; 3],
            local,
            port: PortConfig::access(3, 10, 0),
        }
    }

    fn outer(remote: Vtep) -> Outer {
        Outer {
            next_hop: NextHop {
                ifindex: 7,
                mtu: 1500,
                dst_mac: [0x02, 0xbb, 0, 0, 0, 2],
                src_mac: [0x02, 0xaa, 0, 0, 0, 1],
                _pad: 0,
            },
            remote,
            src_port: source_port(0x1234_5678),
            inner_len: 98,
        }
    }

    #[test]
    fn source_ports_stay_in_the_dynamic_range() {
        for hash in [0, 1, 0x3fff, 0x4000, u32::MAX, 0xdead_beef] {
            assert!(source_port(hash) >= SOURCE_PORT_BASE);
        }
        assert_ne!(source_port(1), source_port(2));
    }

    #[test]
    fn ipv4_headers_carry_every_field() {
        let local = vtep_v4([192, 0, 2, 1]);
        let remote = vtep_v4([192, 0, 2, 2]);
        let bytes = encap_v4(&tunnel(local), &outer(remote), &INNER_ETH);
        assert_eq!(&bytes[0..6], &[0x02, 0xbb, 0, 0, 0, 2]);
        assert_eq!(&bytes[6..12], &[0x02, 0xaa, 0, 0, 0, 1]);
        assert_eq!(&bytes[12..14], &[0x08, 0x00]);
        let ip = &bytes[14..34];
        assert_eq!(ip[0], 0x45);
        assert_eq!(u16::from_be_bytes([ip[2], ip[3]]), 98 + 36);
        assert_eq!(ip[6] & 0x40, 0x40, "DF");
        assert_eq!(ip[8], 64);
        assert_eq!(ip[9], 17);
        assert_eq!(&ip[12..16], &[192, 0, 2, 1]);
        assert_eq!(&ip[16..20], &[192, 0, 2, 2]);
        assert_eq!(fold_sum(ip), 0xffff, "the header checksum verifies");
        let udp = &bytes[34..42];
        assert_eq!(
            u16::from_be_bytes([udp[0], udp[1]]),
            source_port(0x1234_5678)
        );
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 4789);
        assert_eq!(u16::from_be_bytes([udp[4], udp[5]]), 98 + 16);
        assert_eq!(&udp[6..8], &[0, 0]);
        assert_eq!(&bytes[42..50], &[0x08, 0, 0, 0, 0, 0, 100, 0]);
        assert_eq!(&bytes[50..64], &INNER_ETH);
    }

    #[test]
    fn ipv6_headers_carry_every_field() {
        let local: Vtep = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut remote = local;
        remote[15] = 2;
        let bytes = encap_v6(&tunnel(local), &outer(remote), &INNER_ETH);
        assert_eq!(&bytes[12..14], &[0x86, 0xdd]);
        let ip = &bytes[14..54];
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 98 + 16);
        assert_eq!((ip[6], ip[7]), (17, 64));
        assert_eq!(&ip[8..24], &local);
        assert_eq!(&ip[24..40], &remote);
        assert_eq!(u16::from_be_bytes([bytes[56], bytes[57]]), 4789);
        assert_eq!(&bytes[62..70], &[0x08, 0, 0, 0, 0, 0, 100, 0]);
        assert_eq!(&bytes[70..84], &INNER_ETH);
    }

    fn received_frame(local: Vtep, remote: Vtep) -> Vec<u8> {
        let mut out = outer(local);
        out.remote = local;
        let mut sender = tunnel(remote);
        sender.vni = 100;
        let mut bytes = encap_v4(&sender, &out, &INNER_ETH).to_vec();
        bytes.extend_from_slice(&[0u8; 84]);
        bytes
    }

    #[test]
    fn a_vxlan_frame_is_recognised_and_admitted() {
        let local = vtep_v4([192, 0, 2, 1]);
        let remote = vtep_v4([192, 0, 2, 2]);
        let bytes = received_frame(local, remote);
        let Arrival::Vxlan(received) = arrival(bytes.as_slice(), 4789) else {
            panic!("not recognised");
        };
        assert_eq!(received.vni, 100);
        assert_eq!(received.remote, remote);
        assert_eq!(received.outer_len, 50);
        assert!(admit(&received, Some(&tunnel(local))).is_ok());
        assert_eq!(admit(&received, None), Err(DropReason::UnknownVni));
        let elsewhere = tunnel(vtep_v4([192, 0, 2, 9]));
        assert_eq!(
            admit(&received, Some(&elsewhere)),
            Err(DropReason::NotLocalVtep)
        );
    }

    #[test]
    fn ipv4_mapped_addresses_in_an_ipv6_header_are_refused() {
        // Found by the datapath fuzzer: the IPv4 tunnel's local VTEP, written as the
        // IPv4-mapped IPv6 address in an IPv6 header, was admitted (and its mapped source
        // learned as an IPv4 remote).
        let local = vtep_v4([192, 0, 2, 1]);
        let mapped = Received {
            vni: 100,
            remote: vtep_v4([192, 0, 2, 2]),
            local,
            outer_len: 70,
            outer_v6: true,
        };
        assert_eq!(
            admit(&mapped, Some(&tunnel(local))),
            Err(DropReason::NotLocalVtep)
        );
        let v6_local: Vtep = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let mapped_source = Received {
            local: v6_local,
            ..mapped
        };
        assert_eq!(
            admit(&mapped_source, Some(&tunnel(v6_local))),
            Err(DropReason::NotLocalVtep)
        );
        let genuine = Received {
            remote: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            ..mapped_source
        };
        assert!(admit(&genuine, Some(&tunnel(v6_local))).is_ok());
    }

    #[test]
    fn other_traffic_passes_to_the_stack() {
        let bytes = received_frame(vtep_v4([192, 0, 2, 1]), vtep_v4([192, 0, 2, 2]));
        assert_eq!(arrival(bytes.as_slice(), 8472), Arrival::Pass);
        let mut fragment = bytes.clone();
        fragment[14 + 6] = 0x20;
        assert_eq!(arrival(fragment.as_slice(), 4789), Arrival::Pass);
        let mut tcp = bytes.clone();
        tcp[14 + 9] = 6;
        assert_eq!(arrival(tcp.as_slice(), 4789), Arrival::Pass);
        let mut arp = bytes;
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(arrival(arp.as_slice(), 4789), Arrival::Pass);
    }

    #[test]
    fn malformed_vxlan_is_dropped_with_its_reason() {
        let bytes = received_frame(vtep_v4([192, 0, 2, 1]), vtep_v4([192, 0, 2, 2]));
        for cut in 43..64 {
            assert_eq!(
                arrival(&bytes[..cut], 4789),
                Arrival::Drop(DropReason::TruncatedOuter),
                "cut at {cut}"
            );
        }
        for (offset, value) in [(42, 0x00), (42, 0x88), (43, 1), (45, 1), (49, 1)] {
            let mut bad = bytes.clone();
            bad[offset] = value;
            assert_eq!(
                arrival(bad.as_slice(), 4789),
                Arrival::Drop(DropReason::BadVxlanHeader),
                "byte {offset} = {value:#x}"
            );
        }
    }
}
