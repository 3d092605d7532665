//! The ADD result (and what IPAM delegates return, which is the same without interfaces).

use serde::{Deserialize, Serialize};

/// A result of spec 1.0 and 1.1.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// The spec version.
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// The interfaces the plugin made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS settings, passed through.
    #[serde(default, skip_serializing_if = "is_empty_dns")]
    pub dns: serde_json::Value,
}

fn is_empty_dns(value: &serde_json::Value) -> bool {
    value.is_null() || value.as_object().is_some_and(serde_json::Map::is_empty)
}

/// An interface of the result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Its name.
    pub name: String,
    /// Its MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Its MTU (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The network namespace it is in; absent for the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// An address of the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// The address with its prefix length, `10.0.0.2/24`.
    pub address: String,
    /// The gateway, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The index in `interfaces` of the interface that has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// A route of the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The destination, `0.0.0.0/0`.
    pub dst: String,
    /// The next hop; the gateway of the address of the same family when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// An address or prefix written `ADDRESS/LEN`.
pub fn parse_cidr(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (address, len) = text.split_once('/')?;
    let address: std::net::IpAddr = address.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((address, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_local_output_parses_and_round_trips() {
        let text = r#"{"cniVersion":"1.0.0","ips":[{"address":"10.75.0.2/24","gateway":"10.75.0.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#;
        let result: CniResult = serde_json::from_str(text).expect("parses");
        assert_eq!(result.ips[0].interface, None);
        let json = serde_json::to_value(&result).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"cniVersion":"1.0.0","ips":[{"address":"10.75.0.2/24","gateway":"10.75.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]})
        );
        assert_eq!(
            parse_cidr("fd00::2/64"),
            Some(("fd00::2".parse().expect("v6"), 64))
        );
        assert_eq!(parse_cidr("10.0.0.1/33"), None);
    }
}
