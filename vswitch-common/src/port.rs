//! Port configuration, as the controller writes it and the datapath reads it.

use crate::{
    stats::DropReason,
    vlan::{self, VlanSet},
};

/// Port flag: deliver with `bpf_redirect_peer`, straight into the veth peer in another namespace.
pub const PORT_F_REDIRECT_PEER: u32 = 1 << 0;
/// Port flag: learn source addresses of frames received on this port.
pub const PORT_F_LEARNING: u32 = 1 << 1;
/// Port flag: blocked by the loop guard: nothing is received from the port or sent to it.
pub const PORT_F_BLOCKED: u32 = 1 << 3;
/// Port flag: forward only frames from source addresses with a static entry on this port (see
/// `source::admit`).
pub const PORT_F_LOCKED: u32 = 1 << 2;

/// How the datapath treats one port. Keyed by ifindex in the `PORTS` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Index of the port's counters in `PORT_STATS`.
    pub slot: u32,
    /// `PORT_F_*` flags.
    pub flags: u32,
    /// VLAN of untagged frames (port VLAN ID), or 0 where untagged frames are refused.
    pub pvid: u16,
    /// Reserved, zero.
    pub _pad: u16,
    /// Most learned entries the port may hold (`max_macs`); 0 for no limit.
    pub max_macs: u32,
    /// Most frames a second the port may flood (`flood_pps`, see `storm`); 0 for no limit.
    pub flood_pps: u32,
    /// Reserved, zero.
    pub _pad2: u32,
    /// VLANs whose frames cross this port tagged.
    pub tagged: VlanSet,
}

/// How a frame of a given VLAN leaves a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Egress {
    /// Without a tag.
    Untagged,
    /// With the VLAN's tag.
    Tagged,
    /// The port is not a member of the VLAN: the frame must not leave here.
    NotMember,
}

impl PortConfig {
    /// An access port: untagged frames only, in `vid`.
    pub const fn access(slot: u32, vid: u16, flags: u32) -> Self {
        Self {
            slot,
            flags,
            pvid: vid,
            _pad: 0,
            max_macs: 0,
            flood_pps: 0,
            _pad2: 0,
            tagged: VlanSet::EMPTY,
        }
    }

    /// Whether a `PORT_F_*` flag is set.
    #[inline(always)]
    pub const fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The VLAN a received frame belongs to, given its tag control information.
    ///
    /// A priority tag (VLAN 0) counts as untagged, as 802.1Q says.
    #[inline(always)]
    pub fn ingress_vlan(&self, tci: Option<u16>) -> Result<u16, DropReason> {
        let vid = match tci {
            Some(tci) if tci & vlan::VID_MASK != 0 => tci & vlan::VID_MASK,
            _ => {
                return if self.pvid != 0 {
                    Ok(self.pvid)
                } else {
                    Err(DropReason::VlanIngress)
                };
            }
        };
        if self.tagged.contains(vid) {
            Ok(vid)
        } else {
            Err(DropReason::VlanIngress)
        }
    }

    /// Whether the port takes frames at all: not while the loop guard blocks it.
    #[inline(always)]
    pub const fn receives(&self) -> Result<(), DropReason> {
        if self.has(PORT_F_BLOCKED) {
            Err(DropReason::LoopBlocked)
        } else {
            Ok(())
        }
    }

    /// How a frame of VLAN `vid` leaves this port. A blocked port is a member of no VLAN: floods
    /// skip it.
    #[inline(always)]
    pub fn egress(&self, vid: u16) -> Egress {
        if self.has(PORT_F_BLOCKED) {
            Egress::NotMember
        } else if vid == self.pvid {
            Egress::Untagged
        } else if self.tagged.contains(vid) {
            Egress::Tagged
        } else {
            Egress::NotMember
        }
    }
}

/// The ports that the TCX path floods a VLAN's frames to. Indexed by VLAN in the `FLOOD` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodSet {
    /// How many entries of `ifindex` are used.
    pub len: u32,
    /// Ifindexes of the member ports.
    pub ifindex: [u32; crate::MAX_FLOOD_PORTS],
}

impl FloodSet {
    /// The empty set.
    pub const EMPTY: Self = Self {
        len: 0,
        ifindex: [0; crate::MAX_FLOOD_PORTS],
    };
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers; `_pad` makes the padding explicit.
unsafe impl aya::Pod for PortConfig {}
#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with no padding.
unsafe impl aya::Pod for FloodSet {}

#[cfg(test)]
impl PortConfig {
    /// A trunk in slot 0: `vids` tagged, untagged frames in `native` (0 for none).
    pub(crate) fn trunk(native: u16, vids: &[u16]) -> Self {
        let mut port = Self::access(0, native, 0);
        for vid in vids {
            port.tagged.insert(*vid);
        }
        port
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_port_classifies_untagged_and_priority_tagged_into_its_vlan() {
        let port = PortConfig::access(0, 10, 0);
        assert_eq!(port.ingress_vlan(None), Ok(10));
        assert_eq!(port.ingress_vlan(Some(0x6000)), Ok(10));
        assert_eq!(port.ingress_vlan(Some(10)), Err(DropReason::VlanIngress));
    }

    #[test]
    fn trunk_accepts_only_its_vlans_and_native_untagged() {
        let port = PortConfig::trunk(1, &[10, 20]);
        assert_eq!(port.ingress_vlan(Some(0x2000 | 20)), Ok(20));
        assert_eq!(port.ingress_vlan(Some(30)), Err(DropReason::VlanIngress));
        assert_eq!(port.ingress_vlan(None), Ok(1));
        let no_native = PortConfig::trunk(0, &[10]);
        assert_eq!(no_native.ingress_vlan(None), Err(DropReason::VlanIngress));
    }

    #[test]
    fn a_blocked_port_neither_receives_nor_sends() {
        let port = PortConfig::access(0, 10, PORT_F_BLOCKED);
        assert_eq!(port.receives(), Err(DropReason::LoopBlocked));
        assert_eq!(PortConfig::access(0, 10, 0).receives(), Ok(()));
        assert_eq!(port.egress(10), Egress::NotMember);
    }

    #[test]
    fn egress_tags_trunk_vlans_and_strips_the_native_one() {
        let port = PortConfig::trunk(1, &[10]);
        assert_eq!(port.egress(1), Egress::Untagged);
        assert_eq!(port.egress(10), Egress::Tagged);
        assert_eq!(port.egress(20), Egress::NotMember);
    }
}
