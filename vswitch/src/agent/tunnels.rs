//! The VXLAN tunnels of a running switch: each `[[vxlan]]` becomes a tunnel in the maps, its
//! underlay gets the decapsulation program, and the agent keeps each VNI's flood list (the
//! configured remotes and every remote VTEP the FDB knows) and the next hops towards them
//! resolved.

use std::{collections::BTreeMap, net::IpAddr};

use vswitch_common::{
    port::{PORT_F_LEARNING, PortConfig},
    vxlan::{self, MAX_REMOTES, NextHop, RemoteSet, Tunnel, Underlay, Vtep},
};

use super::{AgentError, LinkRole, Switch, transaction::Transaction};
use crate::{
    config::{PortSpec, VxlanSpec},
    datapath::Attachment,
    state::TunnelRecord,
};

/// How many times adding a tunnel looks for the next hops towards its remote VTEPs.
const FIRST_RESOLUTION_TRIES: usize = 20;
/// How long it waits between two looks.
const FIRST_RESOLUTION_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// A tunnel the switch runs.
#[derive(Debug)]
pub(super) struct TunnelState {
    /// The configuration.
    pub spec: VxlanSpec,
    /// Its counter slot.
    pub slot: u32,
    /// Whether the last refresh of its flood list found more remote VTEPs than it holds:
    /// the warning is logged when this turns true, not at every refresh.
    pub overflowing: bool,
}

/// An underlay the switch decapsulates on.
#[derive(Debug)]
pub(super) struct UnderlayState {
    /// Interface index.
    pub ifindex: u32,
    /// Counter slot of frames refused before their tunnel is known.
    pub slot: u32,
    /// The decapsulation program's link.
    pub attachment: Option<Attachment>,
}

/// The switch's tunnels by VNI and underlays by name.
#[derive(Debug, Default)]
pub(super) struct Tunnels {
    pub by_vni: BTreeMap<u32, TunnelState>,
    pub underlays: BTreeMap<String, UnderlayState>,
}

/// The largest MTU a port may have for its frames to cross its tunnels, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct MtuLimit {
    /// The largest inner MTU.
    pub mtu: u32,
    /// Which tunnel and underlay impose it, for messages.
    pub reason: String,
}

/// The VTEP form of an address.
pub fn vtep(address: IpAddr) -> Vtep {
    match address {
        IpAddr::V4(v4) => vxlan::vtep_v4(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address of a VTEP.
pub fn vtep_address(vtep: &Vtep) -> IpAddr {
    match vxlan::vtep_ipv4(vtep) {
        Some(v4) => IpAddr::from(v4),
        None => IpAddr::from(*vtep),
    }
}

impl Switch {
    /// Adds the tunnel `spec` (and its underlay, the first time one uses it). On failure,
    /// what was made is removed again.
    pub(super) async fn add_tunnel(&mut self, spec: &VxlanSpec) -> Result<(), AgentError> {
        let result = self.try_add_tunnel(spec).await;
        if result.is_err() {
            self.remove_tunnel(spec.vni).await;
        }
        result
    }

    async fn try_add_tunnel(&mut self, spec: &VxlanSpec) -> Result<(), AgentError> {
        let underlay = self.ensure_underlay(spec).await?;
        let slot = self.counter_slot(&format!("VNI {}", spec.vni))?;
        self.tunnels.by_vni.insert(
            spec.vni,
            TunnelState {
                spec: spec.clone(),
                slot,
                overflowing: false,
            },
        );
        let learning = if spec.learning { PORT_F_LEARNING } else { 0 };
        self.maps.set_tunnel(Tunnel {
            vni: spec.vni,
            underlay,
            dstport: spec.dstport,
            _pad: [0; 3],
            local: vtep(spec.local),
            port: PortConfig::access(slot, spec.vlan, learning),
        })?;
        self.refresh_remotes(&[spec.vni])?;
        self.refresh_port_mtus(spec.vlan).await?;
        // The first resolution of the remote VTEPs takes a round trip: wait for it briefly,
        // so that the first frames are not dropped for want of a next hop.
        for _ in 0..FIRST_RESOLUTION_TRIES {
            if self.resolve_remote_next_hops().await? == 0 {
                break;
            }
            tokio::time::sleep(FIRST_RESOLUTION_WAIT).await;
        }
        Ok(())
    }

    /// A free counter slot, with its counters zeroed, for `what`.
    pub(super) fn counter_slot(&mut self, what: &str) -> Result<u32, AgentError> {
        let slot = self.slots.allocate().ok_or_else(|| {
            AgentError::Refused(format!("the switch has no counter slot left for {what}"))
        })?;
        if let Err(error) = self.maps.reset_stats(slot) {
            self.slots.release(slot);
            return Err(error.into());
        }
        Ok(slot)
    }

    /// The underlay of `spec`, attached and in the maps: its ifindex.
    async fn ensure_underlay(&mut self, spec: &VxlanSpec) -> Result<u32, AgentError> {
        if let Some(underlay) = self.tunnels.underlays.get(&spec.underlay) {
            return Ok(underlay.ifindex);
        }
        let ifindex = self.links.require(&spec.underlay).await?;
        let slot = self.counter_slot(&format!("underlay {}", spec.underlay))?;
        self.tunnels.underlays.insert(
            spec.underlay.clone(),
            UnderlayState {
                ifindex,
                slot,
                attachment: None,
            },
        );
        self.maps.set_underlay(
            ifindex,
            Underlay {
                slot,
                dstport: spec.dstport,
                _pad: 0,
            },
        )?;
        let pin = self.link_pin(&spec.underlay, LinkRole::Underlay);
        let attachment = self.programs.attach_underlay(&spec.underlay, &pin)?;
        if let Some(underlay) = self.tunnels.underlays.get_mut(&spec.underlay) {
            underlay.attachment = Some(attachment);
        }
        Ok(ifindex)
    }

    /// Removes the tunnel of `vni`, the FDB entries behind it, and its underlay when no other
    /// tunnel uses it. Failures are logged: what is left is what the next start removes.
    pub(super) async fn remove_tunnel(&mut self, vni: u32) {
        if let Some(tunnel) = self.tunnels.by_vni.remove(&vni) {
            if let Err(error) = self.maps.remove_tunnel(vni, tunnel.spec.vlan) {
                log::warn!("removing VNI {vni}: {error}");
            }
            self.slots.release(tunnel.slot);
            if let Err(error) = self.refresh_port_mtus(tunnel.spec.vlan).await {
                log::warn!(
                    "restoring the MTU of VLAN {}'s ports: {error}",
                    tunnel.spec.vlan
                );
            }
        }
        let unused: Vec<String> = self
            .tunnels
            .underlays
            .keys()
            .filter(|name| {
                !self
                    .tunnels
                    .by_vni
                    .values()
                    .any(|tunnel| &tunnel.spec.underlay == *name)
            })
            .cloned()
            .collect();
        for name in unused {
            if let Some(underlay) = self.tunnels.underlays.remove(&name) {
                self.release_underlay(&name, underlay);
            }
        }
    }

    /// Takes down the tunnels of the underlay with `ifindex`, if one was deleted; whether it
    /// was an underlay. A reload once it is back brings them up again.
    pub(super) async fn underlay_removed(&mut self, ifindex: u32) -> bool {
        let Some(name) = self
            .tunnels
            .underlays
            .iter()
            .find(|(_, underlay)| underlay.ifindex == ifindex)
            .map(|(name, _)| name.clone())
        else {
            return false;
        };
        let vnis: Vec<u32> = self
            .tunnels
            .by_vni
            .values()
            .filter(|tunnel| tunnel.spec.underlay == name)
            .map(|tunnel| tunnel.spec.vni)
            .collect();
        log::warn!(
            "underlay {name} disappeared: VNIs {vnis:?} are down until it is back and the config \
             is reloaded"
        );
        for vni in vnis {
            self.remove_tunnel(vni).await;
        }
        true
    }

    fn release_underlay(&mut self, name: &str, underlay: UnderlayState) {
        if let Some(attachment) = underlay.attachment
            && let Err(error) = self.programs.detach(attachment)
        {
            log::debug!("underlay {name}: {error}");
        }
        if let Err(error) = self.maps.remove_underlay(underlay.ifindex) {
            log::warn!("removing underlay {name}: {error}");
        }
        self.slots.release(underlay.slot);
    }

    /// Makes the tunnels those of `specs`: removes the others, adds the new ones, and re-makes
    /// those whose configuration changed. A description of each change.
    pub(super) async fn apply_tunnels(
        &mut self,
        specs: &[VxlanSpec],
    ) -> Result<Vec<String>, AgentError> {
        let mut changes = Vec::new();
        let stale: Vec<u32> = self
            .tunnels
            .by_vni
            .iter()
            .filter(|(vni, tunnel)| {
                !specs
                    .iter()
                    .any(|spec| spec.vni == **vni && *spec == tunnel.spec)
            })
            .map(|(vni, _)| *vni)
            .collect();
        for vni in stale {
            self.remove_tunnel(vni).await;
            changes.push(format!("removed VNI {vni}"));
        }
        for spec in specs {
            if !self.tunnels.by_vni.contains_key(&spec.vni) {
                self.add_tunnel(spec).await?;
                changes.push(format!("added VNI {}", spec.vni));
            }
        }
        Ok(changes)
    }

    /// Removes tunnel and underlay entries, and the underlay links of the `previous` agent's
    /// tunnels, that this agent does not run.
    pub(super) fn remove_stray_tunnels(
        &mut self,
        previous: &[TunnelRecord],
    ) -> Result<(), AgentError> {
        for vni in self.maps.tunnel_vnis()? {
            if !self.tunnels.by_vni.contains_key(&vni)
                && let Some(tunnel) = self.maps.tunnel(vni)
            {
                self.maps.remove_tunnel(vni, tunnel.port.pvid)?;
            }
        }
        for ifindex in self.maps.underlay_ifindexes()? {
            if !self
                .tunnels
                .underlays
                .values()
                .any(|underlay| underlay.ifindex == ifindex)
            {
                self.maps.remove_underlay(ifindex)?;
            }
        }
        for record in previous {
            if !self.tunnels.underlays.contains_key(&record.underlay) {
                // Removing the pin of a link detaches it.
                let _ = std::fs::remove_file(self.link_pin(&record.underlay, LinkRole::Underlay));
            }
        }
        Ok(())
    }

    /// Rewrites the flood list of each of `vnis` that changed: its configured remotes, the
    /// cluster's VTEPs of the VNI, then every remote VTEP that an FDB entry of its VLAN points
    /// to, at most `MAX_REMOTES`. The FDB is read once for all of them.
    pub(super) fn refresh_remotes(&mut self, vnis: &[u32]) -> Result<(), AgentError> {
        let entries = self.maps.fdb_entries()?;
        for vni in vnis {
            let Some(tunnel) = self.tunnels.by_vni.get(vni) else {
                continue;
            };
            let mut remotes: Vec<Vtep> = tunnel.spec.remotes.iter().map(|ip| vtep(*ip)).collect();
            if let Some(link) = &self.cluster {
                for address in link.table.vteps(*vni) {
                    let remote = vtep(address);
                    if address != tunnel.spec.local && !remotes.contains(&remote) {
                        remotes.push(remote);
                    }
                }
            }
            let vlan = tunnel.spec.vlan;
            for (key, entry) in &entries {
                if key.vlan == vlan && entry.is_remote() && !remotes.contains(&entry.remote) {
                    remotes.push(entry.remote);
                }
            }
            let overflowing = remotes.len() > MAX_REMOTES;
            if overflowing {
                let message = format!(
                    "VNI {vni} knows {} remote VTEPs; flooding to the first {MAX_REMOTES}",
                    remotes.len()
                );
                if tunnel.overflowing {
                    log::debug!("{message}");
                } else {
                    log::warn!("{message}");
                }
                remotes.truncate(MAX_REMOTES);
            }
            if let Some(tunnel) = self.tunnels.by_vni.get_mut(vni) {
                tunnel.overflowing = overflowing;
            }
            let mut set = RemoteSet::EMPTY;
            for (slot, remote) in set.remotes.iter_mut().zip(&remotes) {
                *slot = *remote;
            }
            set.len = remotes.len() as u32;
            if self.maps.remotes(*vni) != set {
                self.maps.set_remotes(*vni, set)?;
            }
        }
        Ok(())
    }

    /// Keeps every tunnel's flood list and the next hops towards its remote VTEPs current.
    pub(super) async fn tunnel_upkeep(&mut self) -> Result<(), AgentError> {
        let vnis: Vec<u32> = self.tunnels.by_vni.keys().copied().collect();
        self.refresh_remotes(&vnis)?;
        self.resolve_remote_next_hops().await?;
        Ok(())
    }

    /// Resolves the next hop towards every remote VTEP of every flood list, and forgets those
    /// of remotes no list has any more. Returns how many are not resolved yet.
    pub(super) async fn resolve_remote_next_hops(&mut self) -> Result<usize, AgentError> {
        let vnis: Vec<u32> = self.tunnels.by_vni.keys().copied().collect();
        let mut remotes: Vec<Vtep> = Vec::new();
        for vni in vnis {
            let set = self.maps.remotes(vni);
            for remote in set.remotes.iter().take(set.len as usize) {
                if !remotes.contains(remote) {
                    remotes.push(*remote);
                }
            }
        }
        let mut pending = 0;
        for v6 in [false, true] {
            let family: Vec<Vtep> = remotes
                .iter()
                .filter(|remote| vxlan::vtep_ipv4(remote).is_none() == v6)
                .copied()
                .collect();
            if !family.is_empty() {
                pending += self.resolve_next_hops(&family, v6).await?;
            }
        }
        self.maps.retain_next_hops(&remotes)?;
        Ok(pending)
    }

    /// Writes the next hop of every remote VTEP in `remotes` (all of one address family) whose
    /// neighbour is resolved, and asks the kernel to resolve (or confirm) each. How many are
    /// not resolved yet.
    async fn resolve_next_hops(&mut self, remotes: &[Vtep], v6: bool) -> Result<usize, AgentError> {
        let neighbours = self.links.resolved_neighbours(v6).await?;
        let mut pending = 0;
        for remote in remotes {
            let address = vtep_address(remote);
            let Some(route) = self.links.route_to(address).await? else {
                pending += 1;
                continue;
            };
            if let Err(error) = self.links.use_neighbour(route.oif, route.next_hop).await {
                log::debug!("remote VTEP {address}: {error}");
            }
            let Some(neighbour) = neighbours.iter().find(|neighbour| {
                neighbour.ifindex == route.oif && neighbour.address == route.next_hop
            }) else {
                pending += 1;
                continue;
            };
            let (Some(src_mac), Some(mtu)) = (
                self.links.mac(route.oif).await?,
                self.links.mtu(route.oif).await?,
            ) else {
                pending += 1;
                continue;
            };
            self.maps.set_next_hop(
                *remote,
                NextHop {
                    ifindex: route.oif,
                    mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
                    dst_mac: neighbour.mac,
                    src_mac,
                    _pad: 0,
                },
            )?;
        }
        Ok(pending)
    }

    /// The strictest MTU limit that the tunnels of `spec`'s VLANs impose on its frames, if any
    /// of its VLANs is carried by one.
    pub(super) async fn tunnel_mtu_limit(
        &self,
        spec: &PortSpec,
    ) -> Result<Option<MtuLimit>, AgentError> {
        let members = spec.vlan.members();
        let mut strictest: Option<MtuLimit> = None;
        for tunnel in self.tunnels.by_vni.values() {
            if !members.contains(&tunnel.spec.vlan) {
                continue;
            }
            let Some(underlay) = self.tunnels.underlays.get(&tunnel.spec.underlay) else {
                continue;
            };
            let Some(underlay_mtu) = self.links.mtu(underlay.ifindex).await? else {
                continue;
            };
            // Outer IP, UDP and VXLAN headers, and the inner Ethernet header, which the
            // underlay's MTU counts and the port's does not.
            let overhead = if tunnel.spec.local.is_ipv4() {
                vxlan::IPV4_OVERHEAD
            } else {
                vxlan::IPV6_OVERHEAD
            } as u32;
            let mtu = underlay_mtu.saturating_sub(overhead);
            if strictest.as_ref().is_none_or(|limit| mtu < limit.mtu) {
                strictest = Some(MtuLimit {
                    mtu,
                    reason: format!(
                        "VLAN {} crosses VNI {} over underlay {} (MTU {underlay_mtu}), which \
                         carries frames of at most {mtu} bytes once encapsulation adds its \
                         {overhead}: lower the port's mtu or raise the underlay's",
                        tunnel.spec.vlan, tunnel.spec.vni, tunnel.spec.underlay
                    ),
                });
            }
        }
        Ok(strictest)
    }

    /// Gives the ports of `vlan` the MTU that its tunnels (now) allow, after a tunnel of it came
    /// or went; a port whose own `mtu` the tunnel cannot carry is refused.
    async fn refresh_port_mtus(&mut self, vlan: u16) -> Result<(), AgentError> {
        let members: Vec<(PortSpec, u32)> = self
            .ports
            .iter()
            .filter(|port| port.spec.vlan.members().contains(&vlan))
            .map(|port| (port.spec.clone(), port.ifindex))
            .collect();
        for (spec, ifindex) in members {
            let mut transaction = Transaction::default();
            self.apply_mtu(&spec, ifindex, None, &mut transaction)
                .await?;
            transaction.commit();
        }
        Ok(())
    }

    /// What the instance record says about the tunnels.
    pub(super) fn tunnel_records(&self) -> Vec<TunnelRecord> {
        self.tunnels
            .by_vni
            .values()
            .filter_map(|tunnel| {
                let underlay = self.tunnels.underlays.get(&tunnel.spec.underlay)?;
                Some(TunnelRecord {
                    vni: tunnel.spec.vni,
                    vlan: tunnel.spec.vlan,
                    local: tunnel.spec.local,
                    remotes: tunnel.spec.remotes.clone(),
                    underlay: tunnel.spec.underlay.clone(),
                    underlay_ifindex: underlay.ifindex,
                    dstport: tunnel.spec.dstport,
                    learning: tunnel.spec.learning,
                    slot: tunnel.slot,
                    underlay_slot: underlay.slot,
                })
            })
            .collect()
    }

    /// Detaches every underlay program (at teardown).
    pub(super) fn detach_underlays(&mut self) {
        let underlays = std::mem::take(&mut self.tunnels.underlays);
        for (name, underlay) in underlays {
            self.release_underlay(&name, underlay);
        }
    }
}
