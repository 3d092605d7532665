//! What the kernel reports about devices, read back for `vswitch dev show`.

use std::collections::BTreeMap;

use netlink_packet_route::{
    address::{AddressAttribute, AddressMessage},
    link::{InfoData, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage},
};
use serde_json::{Map, Value, json};

use super::{bond, bridge, ipvlan, macsec, macvlan, netdevsim, tun, tunnel, vlan, vxlan};

/// One device as the kernel reports it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DeviceInfo {
    /// The interface's (or namespace's) name.
    pub name: String,
    /// Its kind (`vlan`, `bond`, `netns`, ...); none for hardware interfaces and loopback.
    pub kind: Option<String>,
    /// Its ifindex; none for a namespace.
    pub ifindex: Option<u32>,
    /// MTU.
    pub mtu: Option<u32>,
    /// MAC address.
    pub mac: Option<String>,
    /// Whether it is administratively up.
    pub up: bool,
    /// The bridge or bond it is enslaved to.
    pub master: Option<String>,
    /// The interface it sits on (a VLAN's, macvlan's or ipvlan's parent; a veth's peer).
    pub parent: Option<String>,
    /// Its addresses with prefix length.
    pub addresses: Vec<String>,
    /// What its kind reports: mode, id, protocol, ...
    pub info: Map<String, Value>,
}

impl DeviceInfo {
    /// A named network namespace.
    pub fn netns(name: &str) -> Self {
        Self {
            name: name.to_string(),
            kind: Some("netns".to_string()),
            ifindex: None,
            mtu: None,
            mac: None,
            up: false,
            master: None,
            parent: None,
            addresses: Vec::new(),
            info: Map::new(),
        }
    }

    /// The devices `links` describe, with their `addresses`.
    pub fn from_links(links: &[LinkMessage], addresses: &[AddressMessage]) -> Vec<Self> {
        let names: BTreeMap<u32, &str> = links
            .iter()
            .filter_map(|link| Some((link.header.index, link_name(link)?)))
            .collect();
        let name_of = |index: u32| names.get(&index).map(|name| (*name).to_string());
        links
            .iter()
            .map(|link| {
                let mut info = Self {
                    name: link_name(link).unwrap_or_default().to_string(),
                    kind: None,
                    ifindex: Some(link.header.index),
                    mtu: None,
                    mac: None,
                    up: link.header.flags.contains(LinkFlags::Up),
                    master: None,
                    parent: None,
                    addresses: addresses_of(link.header.index, addresses),
                    info: Map::new(),
                };
                let other_netns = link
                    .attributes
                    .iter()
                    .any(|attribute| matches!(attribute, LinkAttribute::LinkNetNsId(_)));
                for attribute in &link.attributes {
                    match attribute {
                        LinkAttribute::Mtu(mtu) => info.mtu = Some(*mtu),
                        LinkAttribute::Address(mac) => {
                            info.mac = <[u8; 6]>::try_from(mac.as_slice())
                                .ok()
                                .map(|mac| vswitch_common::mac::Colons(&mac).to_string());
                        }
                        LinkAttribute::Controller(index) => info.master = name_of(*index),
                        LinkAttribute::Link(index) if other_netns => {
                            info.info.insert("peer_ifindex".to_string(), json!(index));
                        }
                        LinkAttribute::Link(index) => info.parent = name_of(*index),
                        LinkAttribute::LinkInfo(infos) => {
                            let kind = infos.iter().find_map(|item| match item {
                                LinkInfo::Kind(kind) => Some(kind),
                                _ => None,
                            });
                            info.kind = kind.map(ToString::to_string);
                            for item in infos {
                                if let (Some(kind), LinkInfo::Data(data)) = (kind, item) {
                                    info.info.extend(describe(kind, data));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(id) = netdevsim::device_of(link) {
                    info.info.insert("id".to_string(), json!(id));
                }
                info
            })
            .collect()
    }
}

fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::IfName(name) => Some(name.as_str()),
            _ => None,
        })
}

fn addresses_of(index: u32, addresses: &[AddressMessage]) -> Vec<String> {
    addresses
        .iter()
        .filter(|message| message.header.index == index)
        .filter_map(|message| {
            message
                .attributes
                .iter()
                .find_map(|attribute| match attribute {
                    AddressAttribute::Address(address) => {
                        Some(format!("{address}/{}", message.header.prefix_len))
                    }
                    _ => None,
                })
        })
        .collect()
}

/// What a kind's `IFLA_INFO_DATA` says, through the kind's own module.
fn describe(kind: &InfoKind, data: &InfoData) -> Map<String, Value> {
    if let Some(tunnel) = tunnel::kind_of(kind) {
        return tunnel::describe(tunnel, data);
    }
    match data {
        InfoData::Vlan(data) => vlan::describe(data),
        InfoData::Vxlan(data) => vxlan::describe(data),
        InfoData::MacVlan(_) | InfoData::MacVtap(_) => macvlan::describe(data),
        InfoData::IpVlan(data) => ipvlan::describe(data),
        InfoData::Bond(data) => bond::describe(data),
        InfoData::Bridge(data) => bridge::describe(data),
        InfoData::Tun(data) => tun::describe(data),
        InfoData::MacSec(data) => macsec::describe(data),
        _ => Map::new(),
    }
}
