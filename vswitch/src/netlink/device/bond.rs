//! `bond`: one interface over several members, for redundancy or aggregation.

use netlink_packet_route::link::{BondMode, InfoBond};
use rtnetlink::LinkBond;
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, References, Resolved};

/// How a bond spreads traffic over its members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BondModeName {
    /// One member carries the traffic; another takes over when it fails.
    #[default]
    ActiveBackup,
    /// A member is chosen by a hash of the frame's addresses.
    BalanceXor,
    /// IEEE 802.3ad link aggregation (LACP).
    #[value(name = "802.3ad")]
    #[serde(rename = "802.3ad")]
    Lacp,
}

impl BondModeName {
    fn mode(self) -> BondMode {
        match self {
            Self::ActiveBackup => BondMode::ActiveBackup,
            Self::BalanceXor => BondMode::BalanceXor,
            Self::Lacp => BondMode::Ieee8023Ad,
        }
    }
}

/// The options of a bond.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bond {
    /// active-backup, balance-xor or 802.3ad.
    #[arg(long, value_enum, default_value_t)]
    #[serde(default)]
    pub mode: BondModeName,
    /// How often to check the members' carrier, in milliseconds (0: never).
    #[arg(long, default_value_t = 100)]
    #[serde(default = "default_miimon")]
    pub miimon: u32,
    /// Member interfaces, enslaved once the bond exists (repeat for several).
    #[arg(long = "member", value_name = "IFNAME")]
    #[serde(default)]
    pub members: Vec<String>,
}

fn default_miimon() -> u32 {
    100
}

impl Kind for Bond {
    fn name(&self) -> &'static str {
        "bond"
    }

    fn feature(&self) -> Feature {
        Feature::new("bonding driver", "CONFIG_BONDING")
    }

    fn validate(&self) -> Result<(), String> {
        self.members
            .iter()
            .try_for_each(|member| crate::config::check_ifname(member))
    }

    fn references(&self) -> References<'_> {
        References::links(self.members.iter().map(String::as_str))
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        let message = LinkBond::new(name)
            .mode(self.mode.mode())
            .miimon(self.miimon)
            .build();
        Recipe::Link(Box::new(message))
    }

    fn members(&self) -> &[String] {
        &self.members
    }
}

/// What the kernel reports about a bond.
pub fn describe(data: &[InfoBond]) -> Map<String, Value> {
    let mut map = Map::new();
    for attribute in data {
        match attribute {
            InfoBond::Mode(mode) => {
                let name = match mode {
                    BondMode::ActiveBackup => "active-backup".to_string(),
                    BondMode::BalanceXor => "balance-xor".to_string(),
                    BondMode::Ieee8023Ad => "802.3ad".to_string(),
                    other => format!("{other:?}").to_lowercase(),
                };
                map.insert("mode".to_string(), json!(name))
            }
            InfoBond::MiiMon(miimon) => map.insert("miimon".to_string(), json!(miimon)),
            _ => continue,
        };
    }
    map
}
