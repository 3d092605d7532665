//! The configuration file as written, with the position of every value for error messages.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub switch: Option<Spanned<SwitchSection>>,
    #[serde(default)]
    pub port: Vec<Spanned<PortSection>>,
    /// `[[device]]` tables, read by the device manager's specs (each kind has its own keys).
    #[serde(default)]
    pub device: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    pub vxlan: Vec<Spanned<VxlanSection>>,
    #[serde(default)]
    pub macvlan: Vec<Spanned<ParentSection>>,
    #[serde(default)]
    pub ipvlan: Vec<Spanned<ParentSection>>,
    pub cluster: Option<Spanned<ClusterSection>>,
}

/// `[cluster]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    pub etcd: Spanned<Vec<Spanned<String>>>,
    pub node: Spanned<String>,
    pub lease_secs: Option<Spanned<i64>>,
    pub ca: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
}

/// `[switch]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchSection {
    pub name: Option<Spanned<String>>,
    pub ageing_secs: Option<Spanned<i64>>,
    pub offload: Option<Spanned<String>>,
    pub max_macs: Option<Spanned<i64>>,
    pub loop_guard_moves: Option<Spanned<i64>>,
    pub loop_guard_hold_secs: Option<Spanned<i64>>,
}

/// One `[[port]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSection {
    pub name: Spanned<String>,
    pub netns: Option<Spanned<String>>,
    #[serde(default)]
    pub address: Vec<Spanned<String>>,
    pub vlan: Option<Spanned<i64>>,
    pub trunk: Option<Spanned<Vec<Spanned<i64>>>>,
    pub native_vlan: Option<Spanned<i64>>,
    pub existing: Option<Spanned<bool>>,
    pub hook: Option<Spanned<String>>,
    pub learning: Option<bool>,
    pub offload: Option<Spanned<String>>,
    pub mtu: Option<Spanned<i64>>,
    pub redirect_peer: Option<Spanned<bool>>,
    pub max_macs: Option<Spanned<i64>>,
    pub flood_pps: Option<Spanned<i64>>,
    pub locked: Option<Spanned<bool>>,
    #[serde(default)]
    pub allowed_macs: Vec<Spanned<String>>,
}

/// One `[[vxlan]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VxlanSection {
    pub vni: Spanned<i64>,
    pub vlan: Option<Spanned<i64>>,
    pub local: Spanned<String>,
    #[serde(default)]
    pub remotes: Vec<Spanned<String>>,
    pub underlay: Spanned<String>,
    pub dstport: Option<Spanned<i64>>,
    pub learning: Option<bool>,
}

/// One `[[macvlan]]` or `[[ipvlan]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentSection {
    pub parent: Spanned<String>,
    pub mode: Option<Spanned<String>>,
    #[serde(default)]
    pub children: Vec<Spanned<ChildSection>>,
}

/// One child of a `[[macvlan]]` or `[[ipvlan]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildSection {
    pub name: Spanned<String>,
    pub kind: Option<Spanned<String>>,
    pub netns: Option<Spanned<String>>,
    #[serde(default)]
    pub address: Vec<Spanned<String>>,
    pub mac: Option<Spanned<String>>,
    #[serde(default)]
    pub allowed_sources: Vec<Spanned<String>>,
}
