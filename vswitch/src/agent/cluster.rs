//! The agent's side of `[cluster]`: it hands the session its local stations and applies what
//! the other nodes published to the maps: remote FDB entries, and their VTEPs in the tunnels'
//! flood lists (through `refresh_remotes`, the one writer of those lists).
//!
//! Local stations are read from the FDB on a slow period (which catches moves, ageing and
//! deletions) and, through [`PublishPace`], as soon as the datapath's count of learned stations
//! moves: a new container is published within a few milliseconds of its first frame. Remote
//! entries are written as their records arrive; the flood lists and next hops, which cost a
//! walk of the whole FDB, are refreshed under a [`Pace`], so that a fresh agent taking in
//! hundreds of nodes does not walk its FDB once per node.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    time::Instant,
};

use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    ipvlan::{self, Address},
    suppression::NeighbourKey,
};

use super::{
    AgentError, Switch,
    pace::{Pace, PublishPace, thread_cpu_time},
    tunnels,
};
use crate::{
    cluster::{Changes, Cluster, Event, Local, RemoteMac, Station, Table},
    config::{ClusterSpec, PortKind},
};

/// How many queued reports of the session one turn of the agent's loop applies before it
/// serves its other duties.
const BURST: usize = 4096;

/// The cluster membership of a running switch.
#[derive(Debug)]
pub(super) struct ClusterLink {
    /// The `[cluster]` it was started with.
    pub spec: ClusterSpec,
    /// What the other nodes published.
    pub table: Table,
    /// The session; the run loop holds it while it runs.
    pub handle: Option<Cluster>,
    /// VNIs whose flood list the cluster changed since the last refresh.
    pub flood: BTreeSet<u32>,
    /// When the flood lists may be refreshed again.
    pub flood_pace: Pace,
}

impl Switch {
    /// Joins the cluster of `spec`; the session connects in the background.
    pub(super) fn join_cluster(&mut self, spec: &ClusterSpec) -> Result<(), AgentError> {
        let local = self.local_stations()?;
        self.cluster = Some(ClusterLink {
            spec: spec.clone(),
            table: Table::new(&spec.node),
            handle: Some(Cluster::start(spec.clone(), local)),
            flood: BTreeSet::new(),
            flood_pace: Pace::default(),
        });
        Ok(())
    }

    /// Reads the local stations and hands them to `cluster`, noting the reading in `pace`.
    pub(super) fn publish_local(&self, cluster: &Cluster, pace: &mut PublishPace) {
        let (started, cpu) = (Instant::now(), thread_cpu_time());
        // The count first: a station learned while the FDB is read moves it again.
        let read = self
            .maps
            .stations_learned()
            .map_err(AgentError::from)
            .and_then(|learned| Ok((learned, self.local_stations()?)));
        match read {
            Ok((learned, local)) => {
                cluster.publish(local);
                pace.read(learned, started, thread_cpu_time().saturating_sub(cpu));
            }
            Err(error) => log::warn!("cluster: reading the local stations: {error}"),
        }
    }

    /// Publishes at once when the datapath learned a station since the last reading and `pace`
    /// allows a reading now.
    pub(super) fn publish_if_learned(&self, cluster: &Cluster, pace: &mut PublishPace) {
        match self.maps.stations_learned() {
            Ok(learned) if pace.due(learned, Instant::now()) => self.publish_local(cluster, pace),
            Ok(_) => {}
            Err(error) => log::warn!("cluster: {error}"),
        }
    }

    /// What this node publishes: each tunnel's local VTEP, and every station of a tunnelled
    /// VLAN behind a local port (learned or static). A station is published with an IP address
    /// when it is the only one behind a veth port that the switch made with addresses: the
    /// port's peer, whose first address (IPv4 first) the config gives.
    pub(super) fn local_stations(&self) -> Result<Local, AgentError> {
        let mut local = Local::default();
        let mut vni_of_vlan = BTreeMap::new();
        for (vni, tunnel) in &self.tunnels.by_vni {
            local.vteps.insert(*vni, tunnel.spec.local);
            vni_of_vlan.insert(tunnel.spec.vlan, *vni);
        }
        let entries = self.maps.fdb_entries()?;
        let mut per_port: BTreeMap<u32, usize> = BTreeMap::new();
        for (_, entry) in entries.iter().filter(|(_, entry)| !entry.is_remote()) {
            *per_port.entry(entry.ifindex).or_default() += 1;
        }
        for (key, entry) in &entries {
            if entry.is_remote() {
                continue;
            }
            if let Some(vni) = vni_of_vlan.get(&key.vlan) {
                let ip = (per_port.get(&entry.ifindex) == Some(&1))
                    .then(|| self.peer_address(entry.ifindex))
                    .flatten();
                let station = Station { vlan: key.vlan, ip };
                local.macs.insert((*vni, key.mac), station);
            }
        }
        Ok(local)
    }

    /// The first address (IPv4 first) of the peer of the veth port with `ifindex`, if the
    /// switch made it with addresses.
    fn peer_address(&self, ifindex: u32) -> Option<IpAddr> {
        let port = self.ports.iter().find(|port| port.ifindex == ifindex)?;
        let PortKind::Veth { addresses, .. } = &port.spec.kind else {
            return None;
        };
        addresses
            .iter()
            .map(|(address, _)| *address)
            .min_by_key(IpAddr::is_ipv6)
    }

    /// Applies a report of the session, and every report queued behind it (up to
    /// [`BURST`]), to the table and the FDB, then refreshes the flood lists if they changed and
    /// their pace allows (else [`Switch::cluster_flood_due`] says when).
    pub(super) async fn cluster_events(
        &mut self,
        first: Event,
        cluster: &mut Cluster,
    ) -> Result<(), AgentError> {
        let mut next = Some(first);
        let mut applied = 0;
        while let Some(event) = next {
            match self.cluster_event(event) {
                Ok(vnis) => {
                    if let Some(link) = self.cluster.as_mut() {
                        link.flood.extend(vnis);
                    }
                }
                Err(error) => log::warn!("cluster: applying a change: {error}"),
            }
            applied += 1;
            next = (applied < BURST).then(|| cluster.try_next()).flatten();
        }
        if self
            .cluster_flood_due()
            .is_some_and(|due| due <= Instant::now())
        {
            self.refresh_cluster_flood().await?;
        }
        Ok(())
    }

    /// When the flood lists that the cluster changed may be refreshed; none if none changed.
    pub(super) fn cluster_flood_due(&self) -> Option<Instant> {
        let link = self.cluster.as_ref()?;
        if link.flood.is_empty() {
            return None;
        }
        Some(link.flood_pace.next().unwrap_or_else(Instant::now))
    }

    /// Refreshes the flood lists that the cluster changed, and the next hops.
    pub(super) async fn refresh_cluster_flood(&mut self) -> Result<(), AgentError> {
        let Some(link) = self.cluster.as_mut() else {
            return Ok(());
        };
        let vnis: Vec<u32> = std::mem::take(&mut link.flood).into_iter().collect();
        let (started, cpu) = (Instant::now(), thread_cpu_time());
        self.refresh_remotes(&vnis)?;
        // The FDB walk is the cost that the pace bounds; the next hops below wait on netlink.
        let cost = thread_cpu_time().saturating_sub(cpu);
        // A new VTEP needs its next hop before frames can go to it: look now rather than at
        // the next upkeep (the neighbour is often known already).
        self.resolve_remote_next_hops().await?;
        if let Some(link) = self.cluster.as_mut() {
            link.flood_pace.ran(started, cost);
        }
        Ok(())
    }

    /// Applies one report to the table and the FDB; the VNIs whose flood list changed.
    fn cluster_event(&mut self, event: Event) -> Result<BTreeSet<u32>, AgentError> {
        let Some(link) = self.cluster.as_mut() else {
            return Ok(BTreeSet::new());
        };
        let changes = match event {
            Event::Snapshot(records) => link.table.replace(records),
            Event::Put(record) => link.table.put(record),
            Event::Delete(key) => link.table.delete(&key),
        };
        self.apply_cluster_changes(&changes)?;
        Ok(changes.flood)
    }

    fn apply_cluster_changes(&mut self, changes: &Changes) -> Result<(), AgentError> {
        for remote in &changes.removed {
            if let Some((key, entry)) = self.remote_entry(remote) {
                if self.maps.fdb(&key) == Some(entry) {
                    self.maps.remove_fdb(&key)?;
                }
                if let Some(ip) = remote.ip {
                    self.maps.remove_neighbour(&neighbour_key(key.vlan, ip))?;
                }
            }
        }
        for remote in &changes.set {
            let Some((key, entry)) = self.remote_entry(remote) else {
                continue;
            };
            // The operator's static entry towards a local port wins over the cluster.
            if self
                .maps
                .fdb(&key)
                .is_some_and(|existing| existing.is_static() && !existing.is_remote())
            {
                log::debug!("cluster: keeping the static entry of {key:?}");
                continue;
            }
            self.maps.set_fdb(key, entry)?;
            if let Some(ip) = remote.ip {
                self.maps
                    .set_neighbour(neighbour_key(key.vlan, ip), remote.mac)?;
            }
        }
        Ok(())
    }

    /// The FDB entry that `remote` is in this switch: static, behind the remote VTEP, through
    /// the tunnel of its VNI. None when the switch does not serve that VNI.
    fn remote_entry(&self, remote: &RemoteMac) -> Option<(FdbKey, FdbEntry)> {
        let tunnel = self.tunnels.by_vni.get(&remote.vni)?;
        if remote.vtep == tunnel.spec.local || remote.vtep.is_ipv4() != tunnel.spec.local.is_ipv4()
        {
            return None;
        }
        let underlay = self.tunnels.underlays.get(&tunnel.spec.underlay)?;
        Some((
            FdbKey {
                mac: remote.mac,
                vlan: tunnel.spec.vlan,
            },
            FdbEntry::fixed(Location {
                ifindex: underlay.ifindex,
                remote: tunnels::vtep(remote.vtep),
            }),
        ))
    }
}

/// The `NEIGHBOURS` key of `ip` in `vlan`.
fn neighbour_key(vlan: u16, ip: IpAddr) -> NeighbourKey {
    let address: Address = match ip {
        IpAddr::V4(v4) => ipvlan::v4(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    };
    NeighbourKey {
        vlan,
        _pad: 0,
        address,
    }
}
