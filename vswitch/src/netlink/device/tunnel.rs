//! `ipip`, `sit`, `ip6tnl`, `gre` and `ip6gre`: IP tunnels between a local and a remote
//! address. They take the same options and differ in the outer family, in what they carry
//! and in which attribute set (`IFLA_IPTUN_*` or `IFLA_GRE_*`) the kernel reads.

use std::net::IpAddr;

use netlink_packet_route::link::{InfoData, InfoKind};
use rtnetlink::{
    LinkMessageBuilder, LinkUnspec,
    packet_core::{DefaultNla, Emitable as _, Nla as _, NlasIterator},
};
use serde_json::{Map, Value, json};

use super::{Feature, Kind, Recipe, References, Resolved};

/// `GRE_KEY` in `IFLA_GRE_IFLAGS`/`OFLAGS`: the header carries a key (network byte order).
const GRE_KEY: u16 = 0x2000;

/// Where one tunnel family's attributes are numbered (`linux/if_tunnel.h`).
#[derive(Clone, Copy, Debug)]
struct Attributes {
    link: u16,
    local: u16,
    remote: u16,
    ttl: u16,
    /// `IFLA_GRE_IFLAGS`, `OFLAGS`, `IKEY`, `OKEY`; none for `IFLA_IPTUN_*`.
    keys: Option<[u16; 4]>,
}

/// `IFLA_IPTUN_LINK`, `LOCAL`, `REMOTE`, `TTL`.
const IPTUN: Attributes = Attributes {
    link: 1,
    local: 2,
    remote: 3,
    ttl: 4,
    keys: None,
};

/// `IFLA_GRE_LINK`, `LOCAL`, `REMOTE`, `TTL`, and the flags and keys.
const GRE: Attributes = Attributes {
    link: 1,
    local: 6,
    remote: 7,
    ttl: 8,
    keys: Some([2, 3, 4, 5]),
};

/// The options of an IP tunnel.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    /// The local tunnel address (IPv4 for ipip, sit and gre; IPv6 for ip6tnl and ip6gre).
    #[arg(long)]
    pub local: Option<IpAddr>,
    /// The remote tunnel endpoint, of the same family.
    #[arg(long)]
    pub remote: Option<IpAddr>,
    /// The outer TTL or hop limit (default: inherited from the inner packet).
    #[arg(long)]
    pub ttl: Option<u8>,
    /// The underlay interface.
    #[arg(long)]
    pub dev: Option<String>,
    /// The GRE key, in both directions (gre and ip6gre only).
    #[arg(long)]
    pub key: Option<u32>,
}

/// Which IP tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelKind {
    /// IPv4 in IPv4.
    Ipip,
    /// IPv6 in IPv4.
    Sit,
    /// IPv4 or IPv6 in IPv6.
    Ip6tnl,
    /// GRE over IPv4.
    Gre,
    /// GRE over IPv6.
    Ip6gre,
}

impl TunnelKind {
    fn outer_is_ipv6(self) -> bool {
        matches!(self, Self::Ip6tnl | Self::Ip6gre)
    }

    fn attributes(self) -> Attributes {
        match self {
            Self::Ipip | Self::Sit | Self::Ip6tnl => IPTUN,
            Self::Gre | Self::Ip6gre => GRE,
        }
    }
}

/// An IP tunnel kind with its options.
#[derive(Clone, Copy, Debug)]
pub struct IpTunnel<'a>(pub TunnelKind, pub &'a Tunnel);

impl Kind for IpTunnel<'_> {
    fn name(&self) -> &'static str {
        match self.0 {
            TunnelKind::Ipip => "ipip",
            TunnelKind::Sit => "sit",
            TunnelKind::Ip6tnl => "ip6tnl",
            TunnelKind::Gre => "gre",
            TunnelKind::Ip6gre => "ip6gre",
        }
    }

    fn feature(&self) -> Feature {
        match self.0 {
            TunnelKind::Ipip => Feature::new("IP-in-IP tunnel driver", "CONFIG_NET_IPIP"),
            TunnelKind::Sit => Feature::new("IPv6-in-IPv4 tunnel driver", "CONFIG_IPV6_SIT"),
            TunnelKind::Ip6tnl => Feature::new("IPv6 tunnel driver", "CONFIG_IPV6_TUNNEL"),
            TunnelKind::Gre => Feature::new("GRE tunnel driver", "CONFIG_NET_IPGRE"),
            TunnelKind::Ip6gre => Feature::new("IPv6 GRE tunnel driver", "CONFIG_IPV6_GRE"),
        }
    }

    fn validate(&self) -> Result<(), String> {
        let (kind, options) = (self.0, self.1);
        let family = if kind.outer_is_ipv6() { "IPv6" } else { "IPv4" };
        for address in options.local.iter().chain(&options.remote) {
            if address.is_ipv6() != kind.outer_is_ipv6() {
                return Err(format!("{address} is not an {family} address"));
            }
        }
        if options.key.is_some() && kind.attributes().keys.is_none() {
            return Err("a key is for gre and ip6gre only".to_string());
        }
        if let Some(dev) = &options.dev {
            crate::config::check_ifname(dev)?;
        }
        Ok(())
    }

    fn references(&self) -> References<'_> {
        References::links(self.1.dev.as_deref())
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let (kind, options) = (self.0, self.1);
        let numbers = kind.attributes();
        let mut attributes = Vec::new();
        if let Some(dev) = &options.dev {
            let index = resolved.link(dev);
            attributes.push(DefaultNla::new(numbers.link, index.to_ne_bytes().to_vec()));
        }
        for (number, address) in [
            (numbers.local, options.local),
            (numbers.remote, options.remote),
        ] {
            let octets = match address {
                Some(IpAddr::V4(address)) => address.octets().to_vec(),
                Some(IpAddr::V6(address)) => address.octets().to_vec(),
                None => continue,
            };
            attributes.push(DefaultNla::new(number, octets));
        }
        if let Some(ttl) = options.ttl {
            attributes.push(DefaultNla::new(numbers.ttl, vec![ttl]));
        }
        if let (Some(key), Some([iflags, oflags, ikey, okey])) = (options.key, numbers.keys) {
            for flags in [iflags, oflags] {
                attributes.push(DefaultNla::new(flags, GRE_KEY.to_be_bytes().to_vec()));
            }
            for number in [ikey, okey] {
                attributes.push(DefaultNla::new(number, key.to_be_bytes().to_vec()));
            }
        }
        let mut data = vec![0; attributes.as_slice().buffer_len()];
        attributes.as_slice().emit(&mut data);
        let info_kind = match kind {
            TunnelKind::Ipip => InfoKind::IpTun,
            TunnelKind::Sit => InfoKind::SitTun,
            TunnelKind::Ip6tnl => InfoKind::Other("ip6tnl".to_string()),
            TunnelKind::Gre => InfoKind::GreTun,
            TunnelKind::Ip6gre => InfoKind::GreTun6,
        };
        let message = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(info_kind)
            .name(name.to_string())
            .set_info_data(InfoData::Other(data))
            .build();
        Recipe::Link(Box::new(message))
    }
}

/// The tunnel kind `kind` names, if it is one.
pub fn kind_of(kind: &InfoKind) -> Option<TunnelKind> {
    Some(match kind {
        InfoKind::IpTun => TunnelKind::Ipip,
        InfoKind::SitTun => TunnelKind::Sit,
        InfoKind::GreTun => TunnelKind::Gre,
        InfoKind::GreTun6 => TunnelKind::Ip6gre,
        InfoKind::Other(name) if name == "ip6tnl" => TunnelKind::Ip6tnl,
        _ => return None,
    })
}

/// What the kernel reports about a tunnel of kind `kind`: endpoints, TTL, underlay, key.
pub fn describe(kind: TunnelKind, data: &InfoData) -> Map<String, Value> {
    let numbers = kind.attributes();
    let mut payload = vec![0; data.value_len()];
    data.emit_value(&mut payload);
    let mut map = Map::new();
    for attribute in NlasIterator::new(payload.as_slice()).flatten() {
        let value = attribute.value();
        let address = || match value.len() {
            4 => <[u8; 4]>::try_from(value)
                .ok()
                .map(|octets| json!(IpAddr::from(octets))),
            16 => <[u8; 16]>::try_from(value)
                .ok()
                .map(|octets| json!(IpAddr::from(octets))),
            _ => None,
        };
        let (key, shown) = match attribute.kind() {
            number if number == numbers.local => ("local", address()),
            number if number == numbers.remote => ("remote", address()),
            number if number == numbers.ttl => ("ttl", value.first().map(|ttl| json!(ttl))),
            number if number == numbers.link => {
                ("dev_ifindex", ne_u32(value).map(|index| json!(index)))
            }
            number if numbers.keys.is_some_and(|keys| keys[2] == number) => (
                "key",
                be_u32(value).filter(|key| *key != 0).map(|key| json!(key)),
            ),
            _ => continue,
        };
        if let Some(shown) = shown {
            map.insert(key.to_string(), shown);
        }
    }
    map
}

fn ne_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(value.try_into().ok()?))
}

fn be_u32(value: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(value.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::link::{LinkAttribute, LinkInfo};

    use super::*;

    /// The `IFLA_INFO_DATA` of the message a tunnel's recipe sends.
    fn sent_data(kind: TunnelKind, options: &Tunnel) -> InfoData {
        let Recipe::Link(message) = IpTunnel(kind, options).recipe("t0", &Resolved::default())
        else {
            panic!("a tunnel is made with RTM_NEWLINK");
        };
        message
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|info| match info {
                    LinkInfo::Data(data) => Some(data.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .expect("IFLA_INFO_DATA")
    }

    #[test]
    fn what_is_sent_reads_back_in_each_attribute_set() {
        let gre = Tunnel {
            local: Some("192.0.2.1".parse().unwrap()),
            remote: Some("192.0.2.2".parse().unwrap()),
            ttl: Some(64),
            key: Some(7),
            ..Tunnel::default()
        };
        let shown = describe(TunnelKind::Gre, &sent_data(TunnelKind::Gre, &gre));
        assert_eq!(
            Value::Object(shown),
            json!({"local": "192.0.2.1", "remote": "192.0.2.2", "ttl": 64, "key": 7})
        );
        let ip6tnl = Tunnel {
            remote: Some("2001:db8::2".parse().unwrap()),
            ..Tunnel::default()
        };
        let shown = describe(TunnelKind::Ip6tnl, &sent_data(TunnelKind::Ip6tnl, &ip6tnl));
        assert_eq!(Value::Object(shown), json!({"remote": "2001:db8::2"}));
    }

    #[test]
    fn families_and_keys_are_checked() {
        let v6 = Tunnel {
            local: Some("2001:db8::1".parse().unwrap()),
            ..Tunnel::default()
        };
        assert_eq!(
            IpTunnel(TunnelKind::Ipip, &v6).validate().unwrap_err(),
            "2001:db8::1 is not an IPv4 address"
        );
        assert!(IpTunnel(TunnelKind::Ip6gre, &v6).validate().is_ok());
        let keyed = Tunnel {
            key: Some(1),
            ..Tunnel::default()
        };
        assert!(IpTunnel(TunnelKind::Sit, &keyed).validate().is_err());
        assert!(IpTunnel(TunnelKind::Gre, &keyed).validate().is_ok());
    }
}
