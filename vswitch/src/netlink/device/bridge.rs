//! `bridge`: a Linux bridge.

use netlink_packet_route::link::{InfoBridge, InfoData};
use rtnetlink::LinkBridge;
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, Resolved};

/// The options of a bridge.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Filter frames by VLAN on the bridge's ports.
    #[arg(long)]
    #[serde(default)]
    pub vlan_filtering: bool,
    /// Run the spanning tree protocol.
    #[arg(long)]
    #[serde(default)]
    pub stp: bool,
}

impl Kind for Bridge {
    fn name(&self) -> &'static str {
        "bridge"
    }

    /// VLAN filtering is a feature of its own: a kernel without it refuses the attribute
    /// (even set to 0), so it is sent only when asked for.
    fn feature(&self) -> Feature {
        if self.vlan_filtering {
            Feature::new("bridge VLAN filtering", "CONFIG_BRIDGE_VLAN_FILTERING")
        } else {
            Feature::new("bridge driver", "CONFIG_BRIDGE")
        }
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        let mut data = vec![InfoBridge::StpState(self.stp.into())];
        if self.vlan_filtering {
            data.push(InfoBridge::VlanFiltering(true));
        }
        let message = LinkBridge::new(name)
            .set_info_data(InfoData::Bridge(data))
            .build();
        Recipe::Link(Box::new(message))
    }
}

/// What the kernel reports about a bridge.
pub fn describe(data: &[InfoBridge]) -> Map<String, Value> {
    let mut map = Map::new();
    for attribute in data {
        match attribute {
            InfoBridge::VlanFiltering(on) => map.insert("vlan_filtering".to_string(), json!(on)),
            InfoBridge::StpState(state) => map.insert("stp".to_string(), json!(*state != 0)),
            _ => continue,
        };
    }
    map
}
