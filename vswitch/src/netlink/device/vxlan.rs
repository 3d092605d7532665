//! `vxlan`: a VXLAN tunnel endpoint.

use std::net::IpAddr;

use netlink_packet_route::link::InfoVxlan;
use rtnetlink::{LinkMessageBuilder, LinkVxlan};
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, References, Resolved};

/// The IANA port of VXLAN.
pub const DEFAULT_DSTPORT: u16 = 4789;

/// The options of a VXLAN device.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vxlan {
    /// The VXLAN network identifier (0 to 16777215).
    #[arg(long)]
    pub id: u32,
    /// The local tunnel address.
    #[arg(long)]
    pub local: Option<IpAddr>,
    /// The remote tunnel endpoint (unicast).
    #[arg(long, conflicts_with = "group")]
    pub remote: Option<IpAddr>,
    /// The multicast group of the VNI's endpoints.
    #[arg(long)]
    pub group: Option<IpAddr>,
    /// The UDP destination port.
    #[arg(long, default_value_t = DEFAULT_DSTPORT)]
    #[serde(default = "default_dstport")]
    pub dstport: u16,
    /// The underlay interface.
    #[arg(long)]
    pub dev: Option<String>,
    /// Learn remote MACs from received traffic: true or false.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    #[serde(default = "yes")]
    pub learning: bool,
}

fn default_dstport() -> u16 {
    DEFAULT_DSTPORT
}

fn yes() -> bool {
    true
}

impl Kind for Vxlan {
    fn name(&self) -> &'static str {
        "vxlan"
    }

    fn feature(&self) -> Feature {
        Feature::new("VXLAN driver", "CONFIG_VXLAN")
    }

    fn validate(&self) -> Result<(), String> {
        if self.id >= 1 << 24 {
            return Err(format!("id {} must be below 16777216", self.id));
        }
        if self.remote.is_some() && self.group.is_some() {
            return Err("remote and group exclude each other".to_string());
        }
        if let Some(group) = self.group
            && !group.is_multicast()
        {
            return Err(format!("group {group} is not a multicast address"));
        }
        if let Some(dev) = &self.dev {
            crate::config::check_ifname(dev)?;
        }
        Ok(())
    }

    fn references(&self) -> References<'_> {
        References::links(self.dev.as_deref())
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let mut builder: LinkMessageBuilder<LinkVxlan> = LinkVxlan::new(name, self.id)
            .port(self.dstport)
            .learning(self.learning);
        builder = match self.local {
            Some(IpAddr::V4(local)) => builder.local(local),
            Some(IpAddr::V6(local)) => builder.local6(local),
            None => builder,
        };
        builder = match self.remote.or(self.group) {
            Some(IpAddr::V4(remote)) => builder.remote(remote),
            Some(IpAddr::V6(remote)) => builder.remote6(remote),
            None => builder,
        };
        if let Some(dev) = &self.dev {
            builder = builder.dev(resolved.link(dev));
        }
        Recipe::Link(Box::new(builder.build()))
    }
}

/// What the kernel reports about a VXLAN device.
pub fn describe(data: &[InfoVxlan]) -> Map<String, Value> {
    let mut map = Map::new();
    for attribute in data {
        let (key, value) = match attribute {
            InfoVxlan::Id(id) => ("id", json!(id)),
            InfoVxlan::Local(address) => ("local", json!(address)),
            InfoVxlan::Local6(address) => ("local", json!(address)),
            InfoVxlan::Group(address) if address.is_multicast() => ("group", json!(address)),
            InfoVxlan::Group6(address) if address.is_multicast() => ("group", json!(address)),
            InfoVxlan::Group(address) => ("remote", json!(address)),
            InfoVxlan::Group6(address) => ("remote", json!(address)),
            InfoVxlan::Port(port) => ("dstport", json!(port)),
            InfoVxlan::Link(index) => ("dev_ifindex", json!(index)),
            InfoVxlan::Learning(learning) => ("learning", json!(learning)),
            _ => continue,
        };
        map.insert(key.to_string(), value);
    }
    map
}
