//! `nlmon`: a netlink monitor: packet sockets on it see every netlink message of the
//! namespace.

use netlink_packet_route::link::InfoKind;

use super::{Feature, Kind, Recipe, Resolved};

/// The nlmon kind (no options of its own).
#[derive(Clone, Copy, Debug)]
pub struct Nlmon;

impl Kind for Nlmon {
    fn name(&self) -> &'static str {
        "nlmon"
    }

    fn feature(&self) -> Feature {
        Feature::new("netlink monitor driver", "CONFIG_NLMON")
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        Recipe::plain(name, InfoKind::Nlmon)
    }
}
