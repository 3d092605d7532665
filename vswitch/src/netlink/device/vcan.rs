//! `vcan`: a virtual CAN bus interface: what is sent on it is received on it.

use netlink_packet_route::link::InfoKind;

use super::{Feature, Kind, Recipe, Resolved};

/// The vcan kind (no options of its own).
#[derive(Clone, Copy, Debug)]
pub struct Vcan;

impl Kind for Vcan {
    fn name(&self) -> &'static str {
        "vcan"
    }

    fn feature(&self) -> Feature {
        Feature::new("virtual CAN driver", "CONFIG_CAN_VCAN")
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        Recipe::plain(name, InfoKind::Other("vcan".to_string()))
    }
}
