//! Routes and neighbours towards remote VTEPs, which the agent turns into the datapath's next
//! hops (egress interface, next hop's MAC address).

use std::net::IpAddr;

use futures::TryStreamExt as _;
use netlink_packet_route::{
    neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourState},
    route::{RouteAddress, RouteAttribute},
};
use rtnetlink::{IpVersion, RouteMessageBuilder};

use super::{Links, NetlinkError};

/// Where the kernel sends packets for an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The egress interface.
    pub oif: u32,
    /// The gateway, or the address itself when it is on link.
    pub next_hop: IpAddr,
}

/// A neighbour whose link-layer address is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbour {
    /// The interface it is on.
    pub ifindex: u32,
    /// Its IP address.
    pub address: IpAddr,
    /// Its MAC address.
    pub mac: [u8; 6],
}

impl Links {
    /// The route the kernel takes to `remote`, if it has one.
    pub async fn route_to(&self, remote: IpAddr) -> Result<Option<Route>, NetlinkError> {
        let what = format!("looking up the route to {remote}");
        let query = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(remote, if remote.is_ipv4() { 32 } else { 128 })
            .map_err(|error| NetlinkError::Io {
                what: what.clone(),
                source: std::io::Error::other(error.to_string()),
            })?
            .build();
        let route = match self.handle.route().get(query).execute().try_next().await {
            Ok(route) => route,
            // No route (ENETUNREACH, EHOSTUNREACH): nothing to resolve.
            Err(rtnetlink::Error::NetlinkError(message))
                if [-libc::ENETUNREACH, -libc::EHOSTUNREACH].contains(&message.raw_code()) =>
            {
                None
            }
            Err(source) => return Err(NetlinkError::Request { what, source }),
        };
        let Some(route) = route else {
            return Ok(None);
        };
        let mut oif = None;
        let mut next_hop = remote;
        for attribute in &route.attributes {
            match attribute {
                RouteAttribute::Oif(index) => oif = Some(*index),
                RouteAttribute::Gateway(RouteAddress::Inet(gateway)) => {
                    next_hop = IpAddr::V4(*gateway);
                }
                RouteAttribute::Gateway(RouteAddress::Inet6(gateway)) => {
                    next_hop = IpAddr::V6(*gateway);
                }
                _ => {}
            }
        }
        Ok(oif.map(|oif| Route { oif, next_hop }))
    }

    /// Every neighbour of the address family of `v6` whose MAC address is known and usable.
    pub async fn resolved_neighbours(&self, v6: bool) -> Result<Vec<Neighbour>, NetlinkError> {
        let version = if v6 { IpVersion::V6 } else { IpVersion::V4 };
        let messages: Vec<_> = self
            .handle
            .neighbours()
            .get()
            .set_family(version)
            .execute()
            .try_collect()
            .await
            .map_err(NetlinkError::request("reading the neighbour table"))?;
        Ok(messages
            .into_iter()
            .filter(|message| {
                matches!(
                    message.header.state,
                    NeighbourState::Reachable
                        | NeighbourState::Stale
                        | NeighbourState::Delay
                        | NeighbourState::Probe
                        | NeighbourState::Permanent
                        | NeighbourState::Noarp
                )
            })
            .filter_map(|message| {
                let mut address = None;
                let mut mac = None;
                for attribute in &message.attributes {
                    match attribute {
                        NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                            address = Some(IpAddr::V4(*v4));
                        }
                        NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                            address = Some(IpAddr::V6(*v6));
                        }
                        NeighbourAttribute::LinkLocalAddress(bytes) => {
                            mac = <[u8; 6]>::try_from(bytes.as_slice()).ok();
                        }
                        _ => {}
                    }
                }
                Some(Neighbour {
                    ifindex: message.header.ifindex,
                    address: address?,
                    mac: mac?,
                })
            })
            .collect())
    }

    /// Tells the kernel that `address` on interface `ifindex` is about to be used
    /// (`NTF_USE`): an unknown neighbour is resolved, a stale one confirmed.
    pub async fn use_neighbour(&self, ifindex: u32, address: IpAddr) -> Result<(), NetlinkError> {
        self.handle
            .neighbours()
            .add(ifindex, address)
            .state(NeighbourState::None)
            .flags(NeighbourFlags::Use)
            .replace()
            .execute()
            .await
            .map_err(NetlinkError::request(format!(
                "resolving neighbour {address} on interface {ifindex}"
            )))
    }
}
