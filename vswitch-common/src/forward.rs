//! The forwarding decision for a received frame.

use crate::{
    fdb::FdbEntry,
    mac::{self, MacAddr},
    stats::DropReason,
    vxlan::Vtep,
};

/// What to do with a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it to the one port behind which the destination was learned.
    Forward {
        /// The egress port's ifindex.
        ifindex: u32,
    },
    /// Encapsulate it to the remote VTEP behind which the destination is, through the tunnel
    /// of its VLAN.
    Tunnel {
        /// The remote VTEP.
        remote: Vtep,
    },
    /// Send it to every other port of its VLAN (and, where its VLAN has a tunnel and it did not
    /// come from there, to every remote VTEP of the tunnel).
    Flood,
    /// Drop it and count why.
    Drop(DropReason),
}

/// Decides where a frame to `dst` that came in on `ingress_ifindex` goes, given the destination's
/// FDB entry (if any) at time `now_ns`.
///
/// A frame decapsulated from a tunnel comes in on the tunnel's underlay, which is also where
/// remote stations are, so the hairpin rule is VXLAN's split horizon: what came from the
/// overlay never goes back into it.
#[inline(always)]
pub fn decide(
    ingress_ifindex: u32,
    dst: &MacAddr,
    entry: Option<&FdbEntry>,
    now_ns: u64,
    ageing_ns: u64,
) -> Verdict {
    if mac::is_group(dst) {
        return Verdict::Flood;
    }
    match entry {
        Some(entry) if entry.is_live(now_ns, ageing_ns) => {
            if entry.ifindex == ingress_ifindex {
                Verdict::Drop(DropReason::Hairpin)
            } else if entry.is_remote() {
                Verdict::Tunnel {
                    remote: entry.remote,
                }
            } else {
                Verdict::Forward {
                    ifindex: entry.ifindex,
                }
            }
        }
        _ => Verdict::Flood,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb::Location;

    const AGEING: u64 = 1_000;
    const STATION: MacAddr = [0x02, 0, 0, 0, 0, 9];

    #[test]
    fn known_unicast_goes_to_its_port() {
        let known = FdbEntry::learned(Location::port(3), 100);
        assert_eq!(
            decide(1, &STATION, Some(&known), 200, AGEING),
            Verdict::Forward { ifindex: 3 }
        );
    }

    #[test]
    fn unknown_unicast_and_group_addresses_flood() {
        assert_eq!(decide(1, &STATION, None, 0, AGEING), Verdict::Flood);
        let known = FdbEntry::learned(Location::port(3), 0);
        assert_eq!(
            decide(1, &mac::BROADCAST, Some(&known), 0, AGEING),
            Verdict::Flood
        );
    }

    #[test]
    fn destination_on_the_ingress_port_is_dropped() {
        let known = FdbEntry::learned(Location::port(1), 0);
        assert_eq!(
            decide(1, &STATION, Some(&known), 0, AGEING),
            Verdict::Drop(DropReason::Hairpin)
        );
    }

    #[test]
    fn aged_entry_counts_as_unknown_but_static_never_ages() {
        let aged = FdbEntry::learned(Location::port(3), 0);
        assert_eq!(
            decide(1, &STATION, Some(&aged), AGEING + 1, AGEING),
            Verdict::Flood
        );
        let pinned = FdbEntry::fixed(Location::port(3));
        assert_eq!(
            decide(1, &STATION, Some(&pinned), 10 * AGEING, AGEING),
            Verdict::Forward { ifindex: 3 }
        );
    }

    #[test]
    fn remote_stations_go_to_their_vtep_but_never_back_into_the_overlay() {
        let remote = crate::vxlan::vtep_v4([192, 0, 2, 2]);
        let behind = FdbEntry::learned(Location { ifindex: 9, remote }, 0);
        assert_eq!(
            decide(1, &STATION, Some(&behind), 0, AGEING),
            Verdict::Tunnel { remote }
        );
        assert_eq!(
            decide(9, &STATION, Some(&behind), 0, AGEING),
            Verdict::Drop(DropReason::Hairpin)
        );
    }
}
