//! Offload per port: tries what the configuration asks for, falls back to software (or fails
//! when offload is required), and tells what each port's datapath ended up being.

use std::collections::BTreeMap;

use netlink_packet_route::link::{LinkAttribute, LinkXdp, XdpAttached};
use vswitch_common::port::PortConfig;

use super::{Datapath, Offload, OffloadError, Offloaded};
use crate::{config::Hook, netlink::Links};

/// The offloaded filters of a switch's ports and the datapath of every port.
pub struct PortOffloads {
    /// rtnetlink, for tc filters and reading XDP attach modes.
    links: Links,
    /// Offloaded filters by ifindex.
    attached: BTreeMap<u32, Offloaded>,
    /// What runs each port's frames, by ifindex.
    datapaths: BTreeMap<u32, Datapath>,
}

impl PortOffloads {
    /// No offloads yet; `links` is the switch namespace's netlink connection.
    pub fn new(links: Links) -> Self {
        Self {
            links,
            attached: BTreeMap::new(),
            datapaths: BTreeMap::new(),
        }
    }

    /// Applies `offload` to port `ifname` (`ifindex`), whose software program is attached at
    /// `hook`, with `port` as the filter's configuration. A refusal is an error only when the
    /// offload is required; otherwise it is logged and the port stays in software.
    pub async fn apply(
        &mut self,
        ifname: &str,
        ifindex: u32,
        hook: Hook,
        offload: Offload,
        port: PortConfig,
    ) -> Result<(), OffloadError> {
        if let Some(offload_hook) = offload.hook {
            match Offloaded::attach(&self.links, offload_hook, ifname, ifindex, port).await {
                Ok(offloaded) => {
                    log::info!("port {ifname}: filter stage offloaded ({offload})");
                    self.attached.insert(ifindex, offloaded);
                    self.datapaths.insert(ifindex, Datapath::Offloaded);
                    return Ok(());
                }
                Err(error) if offload.required => return Err(error),
                Err(error) => log::warn!(
                    "port {ifname}: offload {offload} refused, running in software instead: {error}"
                ),
            }
        }
        let datapath = match hook {
            Hook::Tc => Datapath::Tc,
            Hook::Xdp => self.xdp_mode(ifindex).await?,
        };
        self.datapaths.insert(ifindex, datapath);
        Ok(())
    }

    /// Whether the XDP program on `ifindex` runs in the driver or in the generic path.
    async fn xdp_mode(&self, ifindex: u32) -> Result<Datapath, OffloadError> {
        let link = self.links.get(ifindex).await?;
        let mut xdp = link
            .attributes
            .iter()
            .filter_map(|attribute| match attribute {
                LinkAttribute::Xdp(xdp) => Some(xdp),
                _ => None,
            })
            .flatten();
        let generic = xdp.any(|xdp| {
            matches!(
                xdp,
                LinkXdp::Attached(XdpAttached::SocketBuffer) | LinkXdp::SkbProgId(_)
            )
        });
        Ok(if generic {
            Datapath::Generic
        } else {
            Datapath::Native
        })
    }

    /// The datapath of port `ifindex`, once applied.
    pub fn datapath(&self, ifindex: u32) -> Option<Datapath> {
        self.datapaths.get(&ifindex).copied()
    }

    /// The offloaded filter of port `ifindex`, if any.
    pub fn offloaded(&self, ifindex: u32) -> Option<&Offloaded> {
        self.attached.get(&ifindex)
    }

    /// Forgets port `ifindex`, detaching its offloaded filter if it has one (failures logged).
    pub async fn remove(&mut self, ifindex: u32) {
        self.datapaths.remove(&ifindex);
        if let Some(offloaded) = self.attached.remove(&ifindex)
            && let Err(error) = offloaded.detach(&self.links).await
        {
            log::warn!("detaching the offloaded filter of ifindex {ifindex}: {error}");
        }
    }

    /// Detaches every offloaded filter, logging failures.
    pub async fn detach_all(&mut self) {
        for (ifindex, offloaded) in std::mem::take(&mut self.attached) {
            if let Err(error) = offloaded.detach(&self.links).await {
                log::warn!("detaching the offloaded filter of ifindex {ifindex}: {error}");
            }
        }
    }
}
