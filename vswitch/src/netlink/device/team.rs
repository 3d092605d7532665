//! `team`: a team of member interfaces, run by a userspace daemon (teamd) over generic netlink;
//! the device itself is made over rtnetlink.

use netlink_packet_route::link::InfoKind;

use super::{Feature, Kind, Recipe, Resolved};

/// The team kind (no options of its own).
#[derive(Clone, Copy, Debug)]
pub struct Team;

impl Kind for Team {
    fn name(&self) -> &'static str {
        "team"
    }

    fn feature(&self) -> Feature {
        Feature::new("team driver", "CONFIG_NET_TEAM")
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        Recipe::plain(name, InfoKind::Other("team".to_string()))
    }
}
