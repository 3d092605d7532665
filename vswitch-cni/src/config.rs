//! The network configuration a runtime streams on stdin.
//!
//! The keys are those of the spec, the ones the reference `bridge` plugin's users expect where
//! they apply to a switch (`mtu`, `vlan`, `vlanTrunk`, `isGateway`, `ipMasq`, `macspoofchk`,
//! `runtimeConfig.mac`), and vswitch's own (`switch`, `trunk`, `nativeVlan`, `mac`, `dataDir`).
//! Any other key is refused with code 2, naming it and its value.

use std::path::PathBuf;

use serde::Deserialize;
use vswitch_common::mac::{self, MacAddr};

use crate::{
    error::{CniError, Code},
    version,
};

/// Where attachment records live unless `dataDir` says otherwise: volatile, like the switch.
pub const DEFAULT_DATA_DIR: &str = "/run/vswitch/cni";

/// The switch instance used when `switch` is not given.
pub const DEFAULT_SWITCH: &str = "vsw0";

/// Every key a network config may have.
const KNOWN_KEYS: &[&str] = &[
    // The spec's, and what runtimes add.
    "cniVersion",
    "cniVersions",
    "name",
    "type",
    "args",
    "ipam",
    "dns",
    "prevResult",
    "runtimeConfig",
    "capabilities",
    "disableCheck",
    "disableGC",
    "cni.dev/valid-attachments",
    // The bridge plugin's, where they apply.
    "mtu",
    "vlan",
    "vlanTrunk",
    "isGateway",
    "ipMasq",
    "macspoofchk",
    // vswitch's own.
    "switch",
    "trunk",
    "nativeVlan",
    "mac",
    "dataDir",
];

/// One `vlanTrunk` entry of the bridge plugin: a VLAN, or a range of them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrunkEntry {
    /// A single VLAN.
    pub id: Option<u16>,
    /// The first of a range.
    #[serde(rename = "minID")]
    pub min_id: Option<u16>,
    /// The last of a range.
    #[serde(rename = "maxID")]
    pub max_id: Option<u16>,
}

/// `runtimeConfig`: what the runtime fills in for the plugin's capabilities.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RuntimeConfig {
    /// The `mac` capability: the container interface's MAC address.
    pub mac: Option<String>,
}

/// One `cni.dev/valid-attachments` entry of a GC call.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ValidAttachment {
    /// The container.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// Its interface.
    pub ifname: String,
}

/// The config as it arrives.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    cni_version: String,
    name: String,
    #[serde(default)]
    ipam: Option<serde_json::Value>,
    #[serde(default)]
    dns: Option<serde_json::Value>,
    #[serde(default)]
    prev_result: Option<serde_json::Value>,
    #[serde(default)]
    runtime_config: RuntimeConfig,
    #[serde(default, rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<ValidAttachment>>,
    mtu: Option<u32>,
    vlan: Option<u16>,
    vlan_trunk: Option<Vec<TrunkEntry>>,
    #[serde(default)]
    is_gateway: bool,
    #[serde(default)]
    ip_masq: bool,
    #[serde(default)]
    macspoofchk: bool,
    switch: Option<String>,
    trunk: Option<Vec<u16>>,
    native_vlan: Option<u16>,
    mac: Option<String>,
    data_dir: Option<PathBuf>,
}

/// How the attachment's port sees VLANs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vlans {
    /// Untagged frames in this VLAN (the switch's default VLAN when `None`).
    Access(Option<u16>),
    /// Tagged frames of these VLANs, and untagged ones in `native` if set.
    Trunk {
        /// The tagged VLANs.
        vlans: Vec<u16>,
        /// The VLAN of untagged frames.
        native: Option<u16>,
    },
}

/// A validated network config.
#[derive(Clone, Debug)]
pub struct NetConf {
    /// The spec version the runtime uses, which the result is written in.
    pub cni_version: String,
    /// The network's name.
    pub name: String,
    /// The switch instance.
    pub switch: String,
    /// The port's VLANs.
    pub vlans: Vlans,
    /// Both veth ends' MTU.
    pub mtu: Option<u32>,
    /// The container interface's MAC address (`runtimeConfig.mac` over `mac`).
    pub mac: Option<[u8; 6]>,
    /// The IPAM delegate's config, if any.
    pub ipam: Option<Ipam>,
    /// DNS settings to return as they are.
    pub dns: Option<serde_json::Value>,
    /// The previous ADD's result (DEL, CHECK).
    pub prev_result: Option<serde_json::Value>,
    /// GC's valid attachments.
    pub valid_attachments: Option<Vec<ValidAttachment>>,
    /// Where attachment records live.
    pub data_dir: PathBuf,
    /// The config exactly as received, which delegates get.
    pub raw: serde_json::Value,
}

/// The IPAM section.
#[derive(Clone, Debug)]
pub struct Ipam {
    /// The delegate plugin's name (`ipam.type`).
    pub plugin: String,
}

impl NetConf {
    /// Parses and validates `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, CniError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
            CniError::caused(Code::Decode, "the network config is not valid JSON", &error)
        })?;
        let object = value.as_object().ok_or_else(|| {
            CniError::new(Code::Decode, "the network config is not a JSON object")
        })?;
        if let Some((key, value)) = object
            .iter()
            .find(|(key, _)| !KNOWN_KEYS.contains(&key.as_str()))
        {
            return Err(CniError::new(
                Code::UnsupportedField,
                format!("unsupported field {key:?} (value {value}) in the network config"),
            ));
        }
        let raw: Raw = serde_json::from_value(value.clone()).map_err(|error| {
            CniError::caused(Code::InvalidConfig, "invalid network config", &error)
        })?;
        version::require_supported(&raw.cni_version)?;
        Self::validate(raw, value)
    }

    fn validate(raw: Raw, value: serde_json::Value) -> Result<Self, CniError> {
        let invalid = |message: String| CniError::new(Code::InvalidConfig, message);
        let unsupported = |key: &str, why: &str| {
            CniError::new(
                Code::UnsupportedField,
                format!("unsupported field {key:?} (value true): {why}"),
            )
        };
        if raw.is_gateway {
            return Err(unsupported(
                "isGateway",
                "vswitch is a layer-2 switch with no address of its own; put the gateway on a port",
            ));
        }
        if raw.ip_masq {
            return Err(unsupported(
                "ipMasq",
                "vswitch does no NAT; masquerade on the gateway that routes the network",
            ));
        }
        if raw.macspoofchk {
            return Err(unsupported(
                "macspoofchk",
                "locked ports (vswitch's MAC spoofing check) are not built yet",
            ));
        }
        let check_vlan = |key: &str, vid: u16| {
            if (1..=4094).contains(&vid) {
                Ok(vid)
            } else {
                Err(invalid(format!("{key} {vid} must be from 1 to 4094")))
            }
        };
        let mut trunk: Option<Vec<u16>> = None;
        if let Some(list) = &raw.trunk {
            trunk = Some(list.clone());
        }
        if let Some(entries) = &raw.vlan_trunk {
            if trunk.is_some() {
                return Err(invalid(
                    "give either trunk or vlanTrunk, not both".to_string(),
                ));
            }
            trunk = Some(expand_vlan_trunk(entries).map_err(invalid)?);
        }
        let vlans = match trunk {
            Some(list) => {
                if list.is_empty() {
                    return Err(invalid("a trunk needs at least one VLAN".to_string()));
                }
                for vid in &list {
                    check_vlan("trunk VLAN", *vid)?;
                }
                // As with the bridge plugin, `vlan` beside a trunk is its untagged VLAN.
                if raw.vlan.is_some() && raw.native_vlan.is_some() {
                    return Err(invalid(
                        "give either vlan or nativeVlan for a trunk's untagged VLAN".to_string(),
                    ));
                }
                let native = raw.native_vlan.or(raw.vlan);
                Vlans::Trunk {
                    vlans: list,
                    native: native
                        .map(|vid| check_vlan("nativeVlan", vid))
                        .transpose()?,
                }
            }
            None => {
                if raw.native_vlan.is_some() {
                    return Err(invalid("nativeVlan needs trunk or vlanTrunk".to_string()));
                }
                Vlans::Access(raw.vlan.map(|vid| check_vlan("vlan", vid)).transpose()?)
            }
        };
        if let Some(mtu) = raw.mtu
            && !(68..=65535).contains(&mtu)
        {
            return Err(invalid(format!("mtu {mtu} must be from 68 to 65535")));
        }
        let mac = raw
            .runtime_config
            .mac
            .as_deref()
            .or(raw.mac.as_deref())
            .map(|text| {
                parse_mac(text)
                    .ok_or_else(|| invalid(format!("mac {text:?} is not a unicast MAC address")))
            })
            .transpose()?;
        let ipam = match &raw.ipam {
            None => None,
            Some(section) => {
                let plugin = section
                    .get("type")
                    .and_then(serde_json::Value::as_str)
                    .filter(|plugin| !plugin.is_empty())
                    .ok_or_else(|| {
                        invalid("ipam needs a \"type\" (for example host-local)".to_string())
                    })?;
                if plugin.contains('/') {
                    return Err(invalid(format!(
                        "ipam type {plugin:?} must be a plugin name, not a path"
                    )));
                }
                Some(Ipam {
                    plugin: plugin.to_string(),
                })
            }
        };
        let switch = raw.switch.unwrap_or_else(|| DEFAULT_SWITCH.to_string());
        if switch.is_empty() || switch.contains('/') {
            return Err(invalid(format!(
                "switch {switch:?} is not an instance name"
            )));
        }
        if raw.name.is_empty() || raw.name.contains('/') {
            return Err(invalid(format!(
                "name {:?} is not a network name",
                raw.name
            )));
        }
        Ok(Self {
            cni_version: raw.cni_version,
            name: raw.name,
            switch,
            vlans,
            mtu: raw.mtu,
            mac,
            ipam,
            dns: raw.dns,
            prev_result: raw.prev_result,
            valid_attachments: raw.valid_attachments,
            data_dir: raw
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            raw: value,
        })
    }
}

/// The VLANs a bridge-style `vlanTrunk` lists.
fn expand_vlan_trunk(entries: &[TrunkEntry]) -> Result<Vec<u16>, String> {
    let mut vlans = Vec::new();
    for entry in entries {
        match (entry.id, entry.min_id, entry.max_id) {
            (Some(id), None, None) => vlans.push(id),
            (None, Some(min), Some(max)) if min <= max && max <= 4094 => vlans.extend(min..=max),
            _ => {
                return Err(format!(
                    "vlanTrunk entry {entry:?} must be {{\"id\": N}} or {{\"minID\": A, \"maxID\": B}} with A <= B <= 4094"
                ));
            }
        }
    }
    vlans.sort_unstable();
    vlans.dedup();
    Ok(vlans)
}

/// A unicast MAC address written `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<MacAddr> {
    mac::parse(text).filter(|address| !mac::is_group(address) && !mac::is_zero(address))
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(address: &MacAddr) -> String {
    mac::Colons(address).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<NetConf, CniError> {
        NetConf::parse(json.to_string().as_bytes())
    }

    fn base() -> serde_json::Value {
        serde_json::json!({"cniVersion": "1.0.0", "name": "vsnet", "type": "vswitch-cni"})
    }

    fn with(key: &str, value: serde_json::Value) -> serde_json::Value {
        let mut config = base();
        config[key] = value;
        config
    }

    #[test]
    fn defaults() {
        let config = parse(base()).expect("minimal");
        assert_eq!(config.switch, DEFAULT_SWITCH);
        assert_eq!(config.vlans, Vlans::Access(None));
        assert!(config.ipam.is_none());
    }

    #[test]
    fn bridge_keys_map_to_ports() {
        let mut config = with(
            "vlanTrunk",
            serde_json::json!([{"id": 30}, {"minID": 10, "maxID": 12}]),
        );
        config["vlan"] = 5.into();
        config["mtu"] = 9000.into();
        config["runtimeConfig"] = serde_json::json!({"mac": "02:00:00:00:00:05"});
        config["mac"] = "02:00:00:00:00:06".into();
        let config = parse(config).expect("valid");
        assert_eq!(
            config.vlans,
            Vlans::Trunk {
                vlans: vec![10, 11, 12, 30],
                native: Some(5)
            }
        );
        assert_eq!(config.mtu, Some(9000));
        assert_eq!(config.mac, Some([2, 0, 0, 0, 0, 5]), "runtimeConfig wins");
    }

    #[test]
    fn unknown_and_unsupported_keys_are_code_2() {
        for (key, value) in [
            ("hairpinMode", serde_json::json!(true)),
            ("isGateway", serde_json::json!(true)),
            ("ipMasq", serde_json::json!(true)),
            ("macspoofchk", serde_json::json!(true)),
        ] {
            let error = parse(with(key, value)).expect_err(key);
            assert_eq!(error.code, Code::UnsupportedField as u32, "{key}");
            assert!(
                error.message.contains(key) && error.message.contains("true"),
                "{}",
                error.message
            );
        }
        // False is what not giving them means.
        parse(with("isGateway", false.into())).expect("isGateway false is fine");
    }

    #[test]
    fn bad_values_are_code_7_and_versions_code_1() {
        for config in [
            with("vlan", 5000.into()),
            with("mtu", 10.into()),
            with("trunk", serde_json::json!([])),
            with("mac", "01:00:5e:00:00:01".into()),
            with("ipam", serde_json::json!({"subnet": "10.0.0.0/24"})),
            with("vlanTrunk", serde_json::json!([{"minID": 20, "maxID": 10}])),
            with("nativeVlan", 3.into()),
        ] {
            let error = parse(config.clone()).expect_err("invalid");
            assert_eq!(
                error.code,
                Code::InvalidConfig as u32,
                "{config}: {}",
                error.message
            );
        }
        let error = parse(with("cniVersion", "0.3.1".into())).expect_err("old");
        assert_eq!(error.code, Code::IncompatibleVersion as u32);
        let error = NetConf::parse(b"{not json").expect_err("garbage");
        assert_eq!(error.code, Code::Decode as u32);
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("02:aa:00:00:00:01"), Some([2, 0xaa, 0, 0, 0, 1]));
        assert_eq!(format_mac(&[2, 0xaa, 0, 0, 0, 1]), "02:aa:00:00:00:01");
        for bad in [
            "02:aa:00:00:00",
            "02:aa:00:00:00:01:02",
            "ff:ff:ff:ff:ff:ff",
            "zz:00:00:00:00:00",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }
}
