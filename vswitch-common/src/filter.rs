//! The filter-and-drop stage that a NIC can run on its own (BPF offload): frames that no port
//! configuration admits are dropped before they reach the host.
//!
//! It is the head of the full ingress pipeline (parse, then VLAN classification) without
//! anything that needs host-only maps or helpers: no learning, no forwarding, no counters.
//! Offloaded programs may use only hash and array maps bound to the device (netdevsim allows
//! at most [`OFFLOAD_MAP_ENTRIES`] entries), so the stage reads one [`PortConfig`] from slot 0
//! of a one-entry array.

use crate::{frame, port::PortConfig, stats::DropReason};

/// Entries of the device-bound filter map: one port configuration, at index 0.
pub const OFFLOAD_MAP_ENTRIES: u32 = 1;

/// The VLAN that `frame`, received on a port configured as `port`, belongs to; `Err` with the
/// reason when the frame must be dropped (runt, truncated tag, group or zero source address,
/// VLAN not allowed on the port).
#[inline(always)]
pub fn admit<F: frame::Frame + ?Sized>(frame: &F, port: &PortConfig) -> Result<u16, DropReason> {
    let header = frame::parse(frame)?;
    port.ingress_vlan(header.tag.tci())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(src0: u8, tag: Option<u16>) -> Vec<u8> {
        let mut bytes = vec![0x02, 0, 0, 0, 0, 2, src0, 0, 0, 0, 0, 1];
        if let Some(vid) = tag {
            bytes.extend_from_slice(&[0x81, 0x00]);
            bytes.extend_from_slice(&vid.to_be_bytes());
        }
        bytes.extend_from_slice(&[0x08, 0x00]);
        bytes.resize(60, 0);
        bytes
    }

    #[test]
    fn access_port_admits_untagged_frames_into_its_vlan() {
        let port = PortConfig::access(1, 10, 0);
        assert_eq!(admit(frame(0x02, None).as_slice(), &port), Ok(10));
        assert_eq!(
            admit(frame(0x02, Some(20)).as_slice(), &port),
            Err(DropReason::VlanIngress)
        );
    }

    #[test]
    fn trunk_admits_its_tagged_vlans_only() {
        let mut port = PortConfig::access(1, 0, 0);
        port.tagged.insert(20);
        assert_eq!(admit(frame(0x02, Some(20)).as_slice(), &port), Ok(20));
        assert_eq!(
            admit(frame(0x02, None).as_slice(), &port),
            Err(DropReason::VlanIngress)
        );
    }

    #[test]
    fn bad_sources_and_runts_are_dropped() {
        let port = PortConfig::access(1, 1, 0);
        assert_eq!(
            admit(frame(0x01, None).as_slice(), &port),
            Err(DropReason::InvalidSource)
        );
        assert_eq!(admit(&[0u8; 10][..], &port), Err(DropReason::Runt));
    }
}
