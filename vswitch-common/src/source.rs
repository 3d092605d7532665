//! Which source addresses a port may send from: locked ports and static entries.

use crate::{
    fdb::{FdbEntry, Location},
    stats::DropReason,
};

/// Decides whether a frame from a source address whose FDB entry is `existing`, received at
/// `location` on a port that is `locked` or not, may pass.
///
/// - A static entry pins its station: a frame from its address at any other location is a
///   spoof ([`DropReason::StaticMove`]). Learning never moves static entries either.
/// - A locked port passes only frames whose source has a static entry on the port itself: an
///   `fdb add` or one of its `allowed_macs` ([`DropReason::Locked`]), as the Linux bridge's
///   `locked` ports do without MAC authentication bypass.
#[inline(always)]
pub fn admit(
    existing: Option<&FdbEntry>,
    location: Location,
    locked: bool,
) -> Result<(), DropReason> {
    match existing {
        Some(entry) if entry.is_static() && entry.location() != location => {
            Err(DropReason::StaticMove)
        }
        Some(entry) if entry.is_static() => Ok(()),
        _ if locked => Err(DropReason::Locked),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_port_passes_new_and_learned_sources() {
        assert_eq!(admit(None, Location::port(1), false), Ok(()));
        let learned = FdbEntry::learned(Location::port(2), 0);
        assert_eq!(admit(Some(&learned), Location::port(1), false), Ok(()));
    }

    #[test]
    fn a_static_station_cannot_send_from_elsewhere() {
        let pinned = FdbEntry::fixed(Location::port(2));
        assert_eq!(admit(Some(&pinned), Location::port(2), false), Ok(()));
        assert_eq!(
            admit(Some(&pinned), Location::port(1), false),
            Err(DropReason::StaticMove)
        );
        assert_eq!(
            admit(Some(&pinned), Location::port(1), true),
            Err(DropReason::StaticMove)
        );
    }

    #[test]
    fn a_locked_port_passes_only_its_static_sources() {
        assert_eq!(
            admit(None, Location::port(1), true),
            Err(DropReason::Locked)
        );
        let learned = FdbEntry::learned(Location::port(1), 0);
        assert_eq!(
            admit(Some(&learned), Location::port(1), true),
            Err(DropReason::Locked)
        );
        let allowed = FdbEntry::fixed(Location::port(1));
        assert_eq!(admit(Some(&allowed), Location::port(1), true), Ok(()));
    }
}
