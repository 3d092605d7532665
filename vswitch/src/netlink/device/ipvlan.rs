//! `ipvlan`: children that share the parent's MAC and are dispatched by IP address.

use netlink_packet_route::link::{InfoData, InfoIpVlan, InfoKind, IpVlanMode};
use rtnetlink::{LinkMessageBuilder, LinkUnspec};
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, References, Resolved};

/// Where an ipvlan child's frames are dispatched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanModeName {
    /// At layer 2: children see broadcasts and ARP.
    #[default]
    L2,
    /// At layer 3: the parent routes to the children.
    L3,
    /// At layer 3, through netfilter (like l3, with connection tracking).
    L3s,
}

/// The options of an ipvlan child.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipvlan {
    /// The parent interface.
    #[arg(long)]
    pub parent: String,
    /// l2, l3 or l3s.
    #[arg(long, value_enum, default_value_t)]
    #[serde(default)]
    pub mode: IpvlanModeName,
}

impl Kind for Ipvlan {
    fn name(&self) -> &'static str {
        "ipvlan"
    }

    fn feature(&self) -> Feature {
        Feature::new("ipvlan driver", "CONFIG_IPVLAN")
    }

    fn validate(&self) -> Result<(), String> {
        crate::config::check_ifname(&self.parent)
    }

    fn references(&self) -> References<'_> {
        References::links([self.parent.as_str()])
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let mode = match self.mode {
            IpvlanModeName::L2 => IpVlanMode::L2,
            IpvlanModeName::L3 => IpVlanMode::L3,
            IpvlanModeName::L3s => IpVlanMode::L3S,
        };
        let message = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::IpVlan)
            .name(name.to_string())
            .link(resolved.link(&self.parent))
            .set_info_data(InfoData::IpVlan(vec![InfoIpVlan::Mode(mode)]))
            .build();
        Recipe::Link(Box::new(message))
    }
}

/// What the kernel reports about an ipvlan child.
pub fn describe(data: &[InfoIpVlan]) -> Map<String, Value> {
    let mut map = Map::new();
    for attribute in data {
        if let InfoIpVlan::Mode(mode) = attribute {
            let name = match mode {
                IpVlanMode::L2 => "l2".to_string(),
                IpVlanMode::L3 => "l3".to_string(),
                IpVlanMode::L3S => "l3s".to_string(),
                other => format!("{other:?}").to_lowercase(),
            };
            map.insert("mode".to_string(), json!(name));
        }
    }
    map
}
