//! The key layout under `/vswitch/v1/` and the JSON values stored there, in the spirit of
//! EVPN's routes:
//!
//! | key | value | like |
//! |---|---|---|
//! | `/vswitch/v1/nodes/<node>` | `{"vtep": IP, "vnis": [N, ...]}` | membership |
//! | `/vswitch/v1/vni/<vni>/vteps/<node>` | `{"vtep": IP}` | type-3 route: the flood list |
//! | `/vswitch/v1/vni/<vni>/macs/<mac>` | `{"node": NAME, "vtep": IP, "vlan": N, "ip": IP or null}` | type-2 route |
//!
//! Every key is written under its node's lease, so a dead node's keys vanish with it. Parsing
//! is strict: a key or value that does not fit is an error for the caller to log and skip.

use std::{collections::BTreeMap, net::IpAddr};

use serde::{Deserialize, Serialize};
use vswitch_common::mac::{self, MacAddr};

/// The prefix of every key.
pub const PREFIX: &str = "/vswitch/v1/";
/// The prefix of the per-VNI keys that agents consume.
pub const VNI_PREFIX: &str = "/vswitch/v1/vni/";

/// Which record a key names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A node's membership record.
    Node(String),
    /// A node's VTEP in a VNI's flood list.
    Vtep {
        /// The VNI.
        vni: u32,
        /// The node.
        node: String,
    },
    /// Where a MAC of a VNI is.
    Mac {
        /// The VNI.
        vni: u32,
        /// The station.
        mac: MacAddr,
    },
}

/// A node's membership record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeValue {
    /// Its VTEP address.
    pub vtep: IpAddr,
    /// The VNIs it serves.
    pub vnis: Vec<u32>,
}

/// A node's VTEP in one VNI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VtepValue {
    /// The VTEP address.
    pub vtep: IpAddr,
}

/// Where a MAC is: behind which node's VTEP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacValue {
    /// The node that published it.
    pub node: String,
    /// That node's VTEP address.
    pub vtep: IpAddr,
    /// The VLAN the station is in on that node (informative: each node maps the VNI to its
    /// own VLAN).
    pub vlan: u16,
    /// The station's IP address, when known (for ARP/ND suppression).
    #[serde(default)]
    pub ip: Option<IpAddr>,
}

/// A record read from etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A node's membership.
    Node(String, NodeValue),
    /// A VTEP of a VNI.
    Vtep {
        /// The VNI.
        vni: u32,
        /// The node.
        node: String,
        /// The value.
        value: VtepValue,
    },
    /// A MAC of a VNI.
    Mac {
        /// The VNI.
        vni: u32,
        /// The station.
        mac: MacAddr,
        /// The value.
        value: MacValue,
    },
}

/// Why a key or value under the prefix was not understood.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The key does not follow the layout.
    #[error("key {0:?} does not follow the /vswitch/v1/ layout")]
    Key(String),
    /// The value is not the JSON its key calls for.
    #[error("value of {key:?} is not valid: {reason}")]
    Value {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

impl Key {
    /// The etcd key.
    pub fn path(&self) -> String {
        match self {
            Self::Node(node) => format!("{PREFIX}nodes/{node}"),
            Self::Vtep { vni, node } => format!("{VNI_PREFIX}{vni}/vteps/{node}"),
            Self::Mac { vni, mac } => format!("{VNI_PREFIX}{vni}/macs/{}", mac::Colons(mac)),
        }
    }

    /// Parses an etcd key.
    pub fn parse(path: &str) -> Result<Self, CodecError> {
        let invalid = || CodecError::Key(path.to_string());
        let rest = path.strip_prefix(PREFIX).ok_or_else(invalid)?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["nodes", node] if valid_node(node) => Ok(Self::Node((*node).to_string())),
            ["vni", vni, "vteps", node] if valid_node(node) => Ok(Self::Vtep {
                vni: parse_vni(vni).ok_or_else(invalid)?,
                node: (*node).to_string(),
            }),
            ["vni", vni, "macs", text] => Ok(Self::Mac {
                vni: parse_vni(vni).ok_or_else(invalid)?,
                mac: mac::parse(text).ok_or_else(invalid)?,
            }),
            _ => Err(invalid()),
        }
    }
}

/// A VNI as written in keys: decimal, 1 to 2^24 - 1, no leading zeros.
fn parse_vni(text: &str) -> Option<u32> {
    let vni: u32 = text.parse().ok()?;
    (vni.to_string() == text && (1..=vswitch_common::vxlan::MAX_VNI).contains(&vni)).then_some(vni)
}

/// Whether `node` can be a node name in a key.
fn valid_node(node: &str) -> bool {
    !node.is_empty()
        && node.len() <= 63
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Record {
    /// Parses a key and its value.
    pub fn decode(path: &str, value: &[u8]) -> Result<Self, CodecError> {
        let key = Key::parse(path)?;
        let invalid = |error: serde_json::Error| CodecError::Value {
            key: path.to_string(),
            reason: error.to_string(),
        };
        Ok(match key {
            Key::Node(node) => Self::Node(node, serde_json::from_slice(value).map_err(invalid)?),
            Key::Vtep { vni, node } => Self::Vtep {
                vni,
                node,
                value: serde_json::from_slice(value).map_err(invalid)?,
            },
            Key::Mac { vni, mac } => Self::Mac {
                vni,
                mac,
                value: serde_json::from_slice(value).map_err(invalid)?,
            },
        })
    }

    /// The key and value to store.
    pub fn encode(&self) -> (String, String) {
        let json = match self {
            Self::Node(_, value) => serde_json::to_string(value),
            Self::Vtep { value, .. } => serde_json::to_string(value),
            Self::Mac { value, .. } => serde_json::to_string(value),
        };
        (
            self.key().path(),
            json.expect("plain structs always serialize"),
        )
    }

    /// Its key.
    pub fn key(&self) -> Key {
        match self {
            Self::Node(node, _) => Key::Node(node.clone()),
            Self::Vtep { vni, node, .. } => Key::Vtep {
                vni: *vni,
                node: node.clone(),
            },
            Self::Mac { vni, mac, .. } => Key::Mac {
                vni: *vni,
                mac: *mac,
            },
        }
    }

    /// The node that published it.
    pub fn node(&self) -> &str {
        match self {
            Self::Node(node, _) | Self::Vtep { node, .. } => node,
            Self::Mac { value, .. } => &value.node,
        }
    }
}

/// What this node publishes: its VTEP per VNI and its local stations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Local {
    /// The local VTEP address of each VNI the switch serves.
    pub vteps: BTreeMap<u32, IpAddr>,
    /// The local stations by VNI and MAC.
    pub macs: BTreeMap<(u32, MacAddr), Station>,
}

/// A local station.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Station {
    /// The VLAN it is in here.
    pub vlan: u16,
    /// Its IP address, when the switch knows it.
    pub ip: Option<IpAddr>,
}

impl Local {
    /// The records of node `node` for this state: its membership, a VTEP per VNI and a MAC
    /// record per station, as keys and values.
    pub fn records(&self, node: &str) -> BTreeMap<String, String> {
        let mut records = Vec::with_capacity(1 + self.vteps.len() + self.macs.len());
        if let Some(vtep) = self.vteps.values().next() {
            records.push(Record::Node(
                node.to_string(),
                NodeValue {
                    vtep: *vtep,
                    vnis: self.vteps.keys().copied().collect(),
                },
            ));
        }
        for (vni, vtep) in &self.vteps {
            records.push(Record::Vtep {
                vni: *vni,
                node: node.to_string(),
                value: VtepValue { vtep: *vtep },
            });
        }
        for ((vni, mac), station) in &self.macs {
            if let Some(vtep) = self.vteps.get(vni) {
                records.push(Record::Mac {
                    vni: *vni,
                    mac: *mac,
                    value: MacValue {
                        node: node.to_string(),
                        vtep: *vtep,
                        vlan: station.vlan,
                        ip: station.ip,
                    },
                });
            }
        }
        records.iter().map(Record::encode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = [0x02, 0, 0, 0, 0, 0x0a];

    #[test]
    fn keys_follow_the_layout_both_ways() {
        for (key, path) in [
            (Key::Node("hostA".into()), "/vswitch/v1/nodes/hostA"),
            (
                Key::Vtep {
                    vni: 100,
                    node: "hostA".into(),
                },
                "/vswitch/v1/vni/100/vteps/hostA",
            ),
            (
                Key::Mac { vni: 100, mac: MAC },
                "/vswitch/v1/vni/100/macs/02:00:00:00:00:0a",
            ),
        ] {
            assert_eq!(key.path(), path);
            assert_eq!(Key::parse(path), Ok(key));
        }
    }

    #[test]
    fn foreign_keys_are_refused() {
        for path in [
            "/vswitch/v2/nodes/a",
            "/vswitch/v1/nodes/",
            "/vswitch/v1/nodes/a/b",
            "/vswitch/v1/vni/0/vteps/a",
            "/vswitch/v1/vni/0100/vteps/a",
            "/vswitch/v1/vni/16777216/vteps/a",
            "/vswitch/v1/vni/100/macs/zz:00:00:00:00:00",
            "/vswitch/v1/vni/100/routes/a",
            "/other",
        ] {
            assert!(Key::parse(path).is_err(), "{path}");
        }
    }

    #[test]
    fn records_round_trip() {
        let record = Record::Mac {
            vni: 100,
            mac: MAC,
            value: MacValue {
                node: "hostA".into(),
                vtep: "192.0.2.1".parse().unwrap(),
                vlan: 10,
                ip: Some("10.0.0.1".parse().unwrap()),
            },
        };
        let (key, value) = record.encode();
        assert_eq!(
            value,
            r#"{"node":"hostA","vtep":"192.0.2.1","vlan":10,"ip":"10.0.0.1"}"#
        );
        assert_eq!(Record::decode(&key, value.as_bytes()), Ok(record));
    }

    #[test]
    fn malformed_values_are_errors() {
        for value in [
            "",
            "{",
            r#"{"vtep":"not an ip"}"#,
            r#"{"vtep":"192.0.2.1","extra":1}"#,
            r#"[1,2]"#,
        ] {
            assert!(
                matches!(
                    Record::decode("/vswitch/v1/vni/100/vteps/a", value.as_bytes()),
                    Err(CodecError::Value { .. })
                ),
                "{value}"
            );
        }
        assert!(Record::decode("/vswitch/v1/vni/100/macs/02:00:00:00:00:0a", b"{}").is_err());
    }

    #[test]
    fn local_state_becomes_the_nodes_records() {
        let mut local = Local::default();
        local.vteps.insert(100, "192.0.2.1".parse().unwrap());
        let station = |vlan| Station { vlan, ip: None };
        local.macs.insert((100, MAC), station(10));
        // A station of a VNI that the switch does not serve is not published.
        local.macs.insert((200, MAC), station(20));
        let records = local.records("hostA");
        assert_eq!(
            records.keys().collect::<Vec<_>>(),
            [
                "/vswitch/v1/nodes/hostA",
                "/vswitch/v1/vni/100/macs/02:00:00:00:00:0a",
                "/vswitch/v1/vni/100/vteps/hostA",
            ]
        );
        for (key, value) in &records {
            let record = Record::decode(key, value.as_bytes()).expect("decodes");
            assert_eq!(record.node(), "hostA");
        }
    }
}
