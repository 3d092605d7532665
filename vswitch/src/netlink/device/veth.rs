//! `veth`: a pair of interfaces; what enters one end leaves the other.

use std::os::fd::AsRawFd as _;

use netlink_packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{Feature, Kind, Recipe, References, Resolved};

/// The options of a veth pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Veth {
    /// The peer end's name (default: NAME-peer).
    #[arg(long)]
    pub peer: Option<String>,
    /// Create the peer end inside this network namespace.
    #[arg(long)]
    pub peer_netns: Option<String>,
}

impl Veth {
    /// The peer end's name for a pair whose first end is `name`.
    pub fn peer_name(&self, name: &str) -> String {
        self.peer.clone().unwrap_or_else(|| format!("{name}-peer"))
    }
}

impl Veth {
    /// The peer end, named and placed, as `VETH_INFO_PEER` (vxcan's `VXCAN_INFO_PEER` is the
    /// same attribute).
    pub(super) fn peer_info(&self, name: &str, resolved: &Resolved) -> InfoVeth {
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new().name(self.peer_name(name));
        if let Some(netns) = &self.peer_netns {
            peer = peer.setns_by_fd(resolved.netns(netns).as_raw_fd());
        }
        InfoVeth::Peer(peer.build())
    }
}

impl Kind for Veth {
    fn name(&self) -> &'static str {
        "veth"
    }

    fn feature(&self) -> Feature {
        Feature::new("veth driver", "CONFIG_VETH")
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(peer) = &self.peer {
            crate::config::check_ifname(peer)?;
        }
        if let Some(netns) = &self.peer_netns {
            crate::config::check_netns_name(netns)?;
        }
        Ok(())
    }

    fn references(&self) -> References<'_> {
        References {
            namespaces: self.peer_netns.iter().map(String::as_str).collect(),
            ..References::default()
        }
    }

    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        let message = LinkVeth::new(name, &self.peer_name(name))
            .set_info_data(InfoData::Veth(self.peer_info(name, resolved)))
            .build();
        Recipe::Link(Box::new(message))
    }
}
