//! `macsec`: an 802.1AE child of a parent interface, which authenticates (and optionally
//! encrypts) what it sends; its keys are added afterwards (`ip macsec add`).

use netlink_packet_route::link::{InfoData, InfoKind, InfoMacSec, MacSecCipherId};
use rtnetlink::{LinkMessageBuilder, LinkUnspec};
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, References, Resolved};

/// The options of a MACsec child.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Macsec {
    /// The parent interface.
    #[arg(long)]
    pub parent: String,
    /// The port number of the secure channel identifier (the kernel's default: 1).
    #[arg(long)]
    pub port: Option<u16>,
    /// Encrypt as well as authenticate: true or false.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    #[serde(default)]
    pub encrypt: bool,
}

impl Kind for Macsec {
    fn name(&self) -> &'static str {
        "macsec"
    }

    fn feature(&self) -> Feature {
        Feature::new("MACsec driver", "CONFIG_MACSEC")
    }

    fn validate(&self) -> Result<(), String> {
        if self.port == Some(0) {
            return Err("port must be from 1 to 65535".to_string());
        }
        crate::config::check_ifname(&self.parent)
    }

    fn references(&self) -> References<'_> {
        References::links([self.parent.as_str()])
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let mut data = vec![InfoMacSec::Encrypt(self.encrypt.into())];
        // `IFLA_MACSEC_PORT` is big-endian, which netlink-packet-route 0.25 does not convert.
        data.extend(self.port.map(|port| InfoMacSec::Port(port.to_be())));
        let message = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::MacSec)
            .name(name.to_string())
            .link(resolved.link(&self.parent))
            .set_info_data(InfoData::MacSec(data))
            .build();
        Recipe::Link(Box::new(message))
    }
}

/// What the kernel reports about a MACsec child.
pub fn describe(data: &[InfoMacSec]) -> Map<String, Value> {
    let mut map = Map::new();
    for attribute in data {
        let (key, value) = match attribute {
            InfoMacSec::Sci(sci) => ("sci", json!(format!("{:016x}", u64::from_be(*sci)))),
            InfoMacSec::Encrypt(encrypt) => ("encrypt", json!(*encrypt != 0)),
            InfoMacSec::IcvLen(length) => ("icvlen", json!(length)),
            InfoMacSec::CipherSuite(cipher) => {
                let name = match cipher {
                    MacSecCipherId::GcmAes128 => "GCM-AES-128",
                    MacSecCipherId::GcmAes256 => "GCM-AES-256",
                    MacSecCipherId::GcmAesXpn128 => "GCM-AES-XPN-128",
                    MacSecCipherId::GcmAesXpn256 => "GCM-AES-XPN-256",
                    _ => continue,
                };
                ("cipher", json!(name))
            }
            _ => continue,
        };
        map.insert(key.to_string(), value);
    }
    map
}
