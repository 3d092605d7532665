//! `vxcan`: a pair of virtual CAN interfaces, the CAN counterpart of a veth pair.

use netlink_packet_route::link::{InfoData, InfoKind};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, packet_core::Emitable as _};

use super::{Feature, Kind, Recipe, References, Resolved, Veth};

/// The vxcan kind, with a veth's options (the peer's name and namespace).
#[derive(Clone, Copy, Debug)]
pub struct Vxcan<'a>(pub &'a Veth);

impl Kind for Vxcan<'_> {
    fn name(&self) -> &'static str {
        "vxcan"
    }

    fn feature(&self) -> Feature {
        Feature::new("virtual CAN tunnel driver", "CONFIG_CAN_VXCAN")
    }

    fn validate(&self) -> Result<(), String> {
        self.0.validate()
    }

    fn references(&self) -> References<'_> {
        self.0.references()
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        // rtnetlink knows no vxcan data: the peer attribute is written out by hand.
        let peer = [self.0.peer_info(name, resolved)];
        let mut data = vec![0; peer.as_slice().buffer_len()];
        peer.as_slice().emit(&mut data);
        let message =
            LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Other("vxcan".into()))
                .name(name.to_string())
                .set_info_data(InfoData::Other(data))
                .build();
        Recipe::Link(Box::new(message))
    }
}
