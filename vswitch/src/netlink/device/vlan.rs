//! `vlan`: an 802.1Q (or 802.1ad, "Q-in-Q") VLAN interface on a parent.

use netlink_packet_route::link::{InfoVlan, VlanProtocol};
use rtnetlink::LinkVlan;
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, References, Resolved};

/// The tag protocol of a VLAN interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
pub enum VlanProtocolName {
    /// 802.1Q customer tags (EtherType 0x8100).
    #[default]
    #[value(name = "802.1q", alias = "802.1Q")]
    #[serde(rename = "802.1q", alias = "802.1Q")]
    Dot1Q,
    /// 802.1ad service tags (EtherType 0x88a8).
    #[value(name = "802.1ad")]
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

/// The options of a VLAN interface.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vlan {
    /// The parent interface.
    #[arg(long)]
    pub parent: String,
    /// The VLAN ID (1 to 4094).
    #[arg(long)]
    pub id: u16,
    /// The tag protocol: 802.1q or 802.1ad.
    #[arg(long, value_enum, default_value_t)]
    #[serde(default)]
    pub protocol: VlanProtocolName,
}

impl Kind for Vlan {
    fn name(&self) -> &'static str {
        "vlan"
    }

    fn feature(&self) -> Feature {
        Feature::new("802.1Q VLAN driver", "CONFIG_VLAN_8021Q")
    }

    fn validate(&self) -> Result<(), String> {
        if !vswitch_common::vlan::is_valid_vid(self.id) {
            return Err(format!("id {} must be from 1 to 4094", self.id));
        }
        crate::config::check_ifname(&self.parent)
    }

    fn references(&self) -> References<'_> {
        References::links([self.parent.as_str()])
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let protocol = match self.protocol {
            VlanProtocolName::Dot1Q => VlanProtocol::Ieee8021Q,
            VlanProtocolName::Dot1Ad => VlanProtocol::Ieee8021Ad,
        };
        let message = LinkVlan::new(name, resolved.link(&self.parent), self.id)
            .append_info_data(InfoVlan::Protocol(protocol))
            .build();
        Recipe::Link(Box::new(message))
    }
}

/// What the kernel reports about a VLAN interface.
pub fn describe(data: &[InfoVlan]) -> Map<String, Value> {
    let mut map = Map::new();
    for attribute in data {
        match attribute {
            InfoVlan::Id(id) => map.insert("id".to_string(), json!(id)),
            InfoVlan::Protocol(VlanProtocol::Ieee8021Q) => {
                map.insert("protocol".to_string(), json!("802.1q"))
            }
            InfoVlan::Protocol(VlanProtocol::Ieee8021Ad) => {
                map.insert("protocol".to_string(), json!("802.1ad"))
            }
            _ => continue,
        };
    }
    map
}
