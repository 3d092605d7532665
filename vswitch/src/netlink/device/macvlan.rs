//! `macvlan` and `macvtap`: children of a parent interface, each with its own MAC, dispatched
//! by the parent's driver. A macvtap child also has a tap character device, for VMs.

use netlink_packet_route::link::{InfoData, InfoMacVlan, InfoMacVtap, MacVlanMode};
use rtnetlink::{LinkMacVlan, LinkMacVtap};
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, References, Resolved};

/// How a macvlan parent passes frames between its children.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanModeName {
    /// Children reach each other through the parent, without leaving it.
    #[default]
    Bridge,
    /// Frames between children go out to the adjacent switch and back.
    Vepa,
    /// Children never reach each other.
    Private,
    /// One child takes over the parent.
    Passthru,
    /// Frames are accepted only from listed source MACs.
    Source,
}

impl MacvlanModeName {
    fn mode(self) -> MacVlanMode {
        match self {
            Self::Bridge => MacVlanMode::Bridge,
            Self::Vepa => MacVlanMode::Vepa,
            Self::Private => MacVlanMode::Private,
            Self::Passthru => MacVlanMode::Passthrough,
            Self::Source => MacVlanMode::Source,
        }
    }
}

/// The options of a macvlan or macvtap child.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Macvlan {
    /// The parent interface.
    #[arg(long)]
    pub parent: String,
    /// How the parent passes frames between its children.
    #[arg(long, value_enum, default_value_t)]
    #[serde(default)]
    pub mode: MacvlanModeName,
}

/// The macvtap kind, with a macvlan's options.
#[derive(Clone, Copy, Debug)]
pub struct Macvtap<'a>(pub &'a Macvlan);

impl Kind for Macvlan {
    fn name(&self) -> &'static str {
        "macvlan"
    }

    fn feature(&self) -> Feature {
        Feature::new("macvlan driver", "CONFIG_MACVLAN")
    }

    fn validate(&self) -> Result<(), String> {
        crate::config::check_ifname(&self.parent)
    }

    fn references(&self) -> References<'_> {
        References::links([self.parent.as_str()])
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let message = LinkMacVlan::new(name, resolved.link(&self.parent), self.mode.mode()).build();
        Recipe::Link(Box::new(message))
    }
}

impl Kind for Macvtap<'_> {
    fn name(&self) -> &'static str {
        "macvtap"
    }

    fn feature(&self) -> Feature {
        Feature::new("macvtap driver", "CONFIG_MACVTAP")
    }

    fn validate(&self) -> Result<(), String> {
        self.0.validate()
    }

    fn references(&self) -> References<'_> {
        self.0.references()
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let message =
            LinkMacVtap::new(name, resolved.link(&self.0.parent), self.0.mode.mode()).build();
        Recipe::Link(Box::new(message))
    }
}

/// What the kernel reports about a macvlan or macvtap child.
pub fn describe(data: &InfoData) -> Map<String, Value> {
    let mode = match data {
        InfoData::MacVlan(data) => data.iter().find_map(|attribute| match attribute {
            InfoMacVlan::Mode(mode) => Some(mode),
            _ => None,
        }),
        InfoData::MacVtap(data) => data.iter().find_map(|attribute| match attribute {
            InfoMacVtap::Mode(mode) => Some(mode),
            _ => None,
        }),
        _ => None,
    };
    let mut map = Map::new();
    if let Some(mode) = mode {
        let name = match mode {
            MacVlanMode::Bridge => "bridge".to_string(),
            MacVlanMode::Vepa => "vepa".to_string(),
            MacVlanMode::Private => "private".to_string(),
            MacVlanMode::Passthrough => "passthru".to_string(),
            MacVlanMode::Source => "source".to_string(),
            other => format!("{other:?}").to_lowercase(),
        };
        map.insert("mode".to_string(), json!(name));
    }
    map
}
