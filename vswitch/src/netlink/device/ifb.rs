//! `ifb`: an intermediate functional block, which traffic is redirected to (for shaping ingress).

use netlink_packet_route::link::InfoKind;
use rtnetlink::{LinkMessageBuilder, LinkUnspec};

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
        let message = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Ifb)
            .name(name.to_string())
            .build();
        Recipe::Link(Box::new(message))
    }
}
