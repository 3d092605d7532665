//! `ifb`: an intermediate functional block, which traffic is redirected to (for shaping ingress).

use netlink_packet_route::link::InfoKind;

use super::{Feature, Kind, Recipe, Resolved};

/// The ifb kind (no options of its own).
#[derive(Clone, Copy, Debug)]
pub struct Ifb;

impl Kind for Ifb {
    fn name(&self) -> &'static str {
        "ifb"
    }

    fn feature(&self) -> Feature {
        Feature::new("ifb driver", "CONFIG_IFB")
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        Recipe::plain(name, InfoKind::Ifb)
    }
}
