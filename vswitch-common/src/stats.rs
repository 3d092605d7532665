//! Per-port counters and the reasons a frame is dropped.

/// Why the datapath dropped a frame. Every drop is counted under one of these.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    Runt = 0,
    /// A VLAN ethertype whose tag is cut off.
    TruncatedTag = 1,
    /// The source address is a group or all-zero address.
    InvalidSource = 2,
    /// The frame's VLAN (or lack of a tag) is not allowed on the ingress port.
    VlanIngress = 3,
    /// The destination was learned on the port the frame came in on.
    Hairpin = 4,
    /// The egress port is not a member of the frame's VLAN, or is not (or no longer) a port.
    VlanEgress = 5,
    /// The frame arrived on an interface that is not a port of this switch.
    NotAPort = 6,
    /// A kernel helper refused to push or pop a tag, to encapsulate, or to redirect.
    HelperFailed = 7,
    /// A frame to the VXLAN port too short for the VXLAN header and an inner Ethernet header.
    TruncatedOuter = 8,
    /// A VXLAN header whose flags are not exactly the I flag, or whose reserved bits are set.
    BadVxlanHeader = 9,
    /// A VXLAN frame for a VNI that no tunnel of the switch carries.
    UnknownVni = 10,
    /// A VXLAN frame whose outer destination is not the local VTEP of its VNI's tunnel.
    NotLocalVtep = 11,
    /// No resolved next hop towards a remote VTEP (yet: the agent resolves them).
    NoRoute = 12,
    /// An encapsulated frame larger than the MTU of the underlay's egress interface.
    TooBig = 13,
}

impl DropReason {
    /// Number of reasons, the length of [`PortStats::drops`].
    pub const COUNT: usize = 14;

    /// Every reason, in counter order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Runt,
        Self::TruncatedTag,
        Self::InvalidSource,
        Self::VlanIngress,
        Self::Hairpin,
        Self::VlanEgress,
        Self::NotAPort,
        Self::HelperFailed,
        Self::TruncatedOuter,
        Self::BadVxlanHeader,
        Self::UnknownVni,
        Self::NotLocalVtep,
        Self::NoRoute,
        Self::TooBig,
    ];

    /// The name used in `vswitch stats` output.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Runt => "runt",
            Self::TruncatedTag => "truncated_tag",
            Self::InvalidSource => "invalid_source",
            Self::VlanIngress => "vlan_ingress",
            Self::Hairpin => "hairpin",
            Self::VlanEgress => "vlan_egress",
            Self::NotAPort => "not_a_port",
            Self::HelperFailed => "helper_failed",
            Self::TruncatedOuter => "truncated_outer",
            Self::BadVxlanHeader => "bad_vxlan_header",
            Self::UnknownVni => "unknown_vni",
            Self::NotLocalVtep => "not_local_vtep",
            Self::NoRoute => "no_route",
            Self::TooBig => "too_big",
        }
    }
}

/// Counters of one port on one CPU. Userspace sums them over CPUs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Frames received from the port.
    pub rx_packets: u64,
    /// Bytes received from the port.
    pub rx_bytes: u64,
    /// Frames sent to the port.
    pub tx_packets: u64,
    /// Bytes sent to the port.
    pub tx_bytes: u64,
    /// Received frames forwarded to one known port.
    pub forwarded: u64,
    /// Received frames flooded to the other ports of their VLAN.
    pub flooded: u64,
    /// Source addresses learned or moved to this port.
    pub learned: u64,
    /// Address resolution requests (ARP, neighbour solicitations) from the port that the
    /// switch answered itself instead of forwarding them.
    pub answered: u64,
    /// Received frames dropped, by [`DropReason`].
    pub drops: [u64; DropReason::COUNT],
}

impl PortStats {
    /// All drops, whatever the reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds `other` into `self`, as when summing per-CPU values.
    pub fn accumulate(&mut self, other: &Self) {
        self.rx_packets += other.rx_packets;
        self.rx_bytes += other.rx_bytes;
        self.tx_packets += other.tx_packets;
        self.tx_bytes += other.tx_bytes;
        self.forwarded += other.forwarded;
        self.flooded += other.flooded;
        self.learned += other.learned;
        self.answered += other.answered;
        for (sum, add) in self.drops.iter_mut().zip(other.drops.iter()) {
            *sum += add;
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: plain `repr(C)` integers with no padding.
unsafe impl aya::Pod for PortStats {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_numbered_in_counter_order() {
        for (index, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, index);
        }
    }

    #[test]
    fn accumulate_sums_every_counter() {
        let mut one = PortStats {
            rx_packets: 1,
            tx_bytes: 10,
            ..PortStats::default()
        };
        one.drops[DropReason::Hairpin as usize] = 2;
        let mut sum = PortStats::default();
        sum.accumulate(&one);
        sum.accumulate(&one);
        assert_eq!(sum.rx_packets, 2);
        assert_eq!(sum.tx_bytes, 20);
        assert_eq!(sum.total_drops(), 4);
    }
}
