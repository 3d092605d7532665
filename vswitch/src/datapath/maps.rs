//! Typed access to the switch's maps, from the agent that loaded them or from another process.

use std::collections::BTreeMap;

use aya::{
    Ebpf,
    maps::{Array, HashMap, HashOfMaps, Map, MapData, MapError, PerCpuArray, xdp::DevMapHash},
    programs::ProgramFd,
};
use vswitch_common::{
    budget::{MacCount, NO_SLOT, TOTAL_SLOT},
    dispatch::{Child, ChildKey, Parent, SourceKey},
    fdb::{FdbEntry, FdbKey},
    flood_group::FloodGroup,
    ipvlan::AddressKey,
    mac::MacAddr,
    map_names,
    port::{FloodSet, PortConfig},
    stats::PortStats,
    storm::TokenBucket,
    suppression::NeighbourKey,
    switch::SwitchConfig,
    vxlan::{NextHop, RemoteSet, Tunnel, Underlay, Vtep},
};

use super::{DatapathError, barrier::RcuBarrier, flow_generation::FlowGeneration};

/// Kernel IDs of the maps, recorded so other processes can open them from any mount namespace.
pub type MapIds = BTreeMap<String, u32>;

/// The switch's maps.
pub struct Maps {
    /// Port configuration by ifindex.
    pub ports: HashMap<MapData, u32, PortConfig>,
    /// The forwarding database.
    pub fdb: HashMap<MapData, FdbKey, FdbEntry>,
    /// Per-CPU counters by slot.
    pub stats: PerCpuArray<MapData, PortStats>,
    /// The datapath's half of each port's learned-entry count, by slot.
    pub mac_counts: Array<MapData, MacCount>,
    /// The agent's half: learned entries of each port it deleted, by slot.
    pub mac_forgotten: Array<MapData, u64>,
    /// Per-CPU `flood_pps` token buckets by slot.
    pub flood_buckets: PerCpuArray<MapData, TokenBucket>,
    /// Flood sets of the TCX path by VLAN.
    pub flood: HashMap<MapData, u32, FloodSet>,
    /// Ports with the egress program, for XDP floods.
    pub tx_ports: DevMapHash<MapData>,
    /// Ports without a program, for XDP unicast.
    pub tx_unicast: DevMapHash<MapData>,
    /// The flow cache's generation, which every write here that can change a known-unicast
    /// decision bumps.
    pub flow_generation: FlowGeneration,
    /// The members of the plain XDP flood groups.
    pub flood_groups: HashMap<MapData, u32, FloodGroup>,
    /// A devmap without a program per plain XDP flood group.
    pub flood_plain: HashOfMaps<MapData, u32, MapData>,
    /// Switch-wide settings.
    pub switch: Array<MapData, SwitchConfig>,
    /// VXLAN tunnels by VNI.
    pub tunnels: HashMap<MapData, u32, Tunnel>,
    /// VXLAN tunnels by VLAN.
    pub tunnel_vlans: HashMap<MapData, u32, Tunnel>,
    /// Remote VTEPs by VNI.
    pub tunnel_flood: HashMap<MapData, u32, RemoteSet>,
    /// Underlays by ifindex.
    pub underlays: HashMap<MapData, u32, Underlay>,
    /// Next hops by remote VTEP.
    pub next_hops: HashMap<MapData, Vtep, NextHop>,
    /// Dispatch children by their own ifindex.
    pub children: HashMap<MapData, u32, Child>,
    /// Dispatch children by (parent, MAC).
    pub dispatch: HashMap<MapData, ChildKey, Child>,
    /// Allowed sources of source-mode children.
    pub sources: HashMap<MapData, SourceKey, u8>,
    /// Dispatch parents by ifindex.
    pub parents: HashMap<MapData, u32, Parent>,
    /// ipvlan children by (parent, IP address).
    pub addresses: HashMap<MapData, AddressKey, Child>,
    /// Children for XDP redirects from their parent.
    pub child_tx: DevMapHash<MapData>,
    /// Remote stations' MACs by (VLAN, IP address), for ARP/ND suppression.
    pub neighbours: HashMap<MapData, NeighbourKey, MacAddr>,
    /// The write discipline of the controller-written maps (see [`RcuBarrier`]).
    pub(super) writes: Writes,
}

/// Which controller-written maps freed an element since the last barrier.
#[derive(Debug, Default)]
pub(super) struct Writes {
    barrier: Option<RcuBarrier>,
    ports_freed: bool,
    flood_freed: bool,
}

/// The controller-written maps under the barrier discipline: `PORTS` and the tunnel
/// configuration maps, and the sets replaced whole (`FLOOD`, `FLOOD_GROUPS`, `TUNNEL_FLOOD`).
#[derive(Clone, Copy, Debug)]
pub(super) enum Guarded {
    Ports,
    Flood,
}

impl Writes {
    /// Waits for the barrier if `map` freed an element since the last one, so that the write
    /// about to happen cannot reuse an element a program still reads.
    pub(super) fn before(&mut self, map: Guarded) -> Result<(), DatapathError> {
        let freed = match map {
            Guarded::Ports => self.ports_freed,
            Guarded::Flood => self.flood_freed,
        };
        if !freed {
            return Ok(());
        }
        let barrier = match &mut self.barrier {
            Some(barrier) => barrier,
            slot => slot.insert(RcuBarrier::new().map_err(barrier_error)?),
        };
        barrier.wait().map_err(barrier_error)?;
        // One grace period covers both maps.
        self.ports_freed = false;
        self.flood_freed = false;
        Ok(())
    }

    /// Records that a write to `map` replaced or deleted an element.
    pub(super) fn freed(&mut self, map: Guarded) {
        match map {
            Guarded::Ports => self.ports_freed = true,
            Guarded::Flood => self.flood_freed = true,
        }
    }
}

fn barrier_error(error: std::io::Error) -> DatapathError {
    DatapathError::map("waiting for an RCU grace period")(MapError::SyscallError(
        aya::sys::SyscallError {
            call: "bpf_map_update_elem (map-of-maps barrier)",
            io_error: error,
        },
    ))
}

impl Maps {
    /// Takes the maps out of a freshly loaded object and pins each under `dir` (on a BPF
    /// filesystem) unless the loader already did. Returns them with their kernel IDs.
    pub fn take_pinned(
        ebpf: &mut Ebpf,
        dir: &std::path::Path,
    ) -> Result<(Self, MapIds), DatapathError> {
        let mut ids = MapIds::new();
        let take = |name: &'static str| -> Result<Map, DatapathError> {
            let map = ebpf.take_map(name).ok_or(DatapathError::Missing(name))?;
            let path = dir.join(name);
            if !path.exists() {
                map.pin(&path).map_err(|error| DatapathError::Map {
                    what: format!("pinning {name} under {}", dir.display()),
                    source: MapError::PinError {
                        name: Some(name.to_string()),
                        error,
                    },
                })?;
            }
            let info = MapData::from_pin(&path)
                .and_then(|data| data.info())
                .map_err(DatapathError::map(format!("reading the id of {name}")))?;
            ids.insert(name.to_string(), info.id());
            Ok(map)
        };
        let maps = Self::from_maps(take)?;
        Ok((maps, ids))
    }

    /// Opens the maps of a running switch by their kernel IDs.
    pub fn open(ids: &MapIds) -> Result<Self, DatapathError> {
        let open = |name: &'static str| -> Result<Map, DatapathError> {
            let id = *ids.get(name).ok_or(DatapathError::Missing(name))?;
            let data =
                MapData::from_id(id).map_err(DatapathError::map(format!("opening {name}")))?;
            Map::from_map_data(data).map_err(DatapathError::map(format!("opening {name}")))
        };
        Self::from_maps(open)
    }

    /// The maps, each got by name from `get` and typed.
    fn from_maps(
        mut get: impl FnMut(&'static str) -> Result<Map, DatapathError>,
    ) -> Result<Self, DatapathError> {
        macro_rules! typed {
            ($name:expr) => {
                get($name)?.try_into().map_err(DatapathError::map($name))?
            };
        }
        Ok(Self {
            ports: typed!(map_names::PORTS),
            fdb: typed!(map_names::FDB),
            stats: typed!(map_names::PORT_STATS),
            mac_counts: typed!(map_names::MAC_COUNTS),
            mac_forgotten: typed!(map_names::MAC_FORGOTTEN),
            flood_buckets: typed!(map_names::FLOOD_BUCKETS),
            flood: typed!(map_names::FLOOD),
            tx_ports: typed!(map_names::TX_PORTS),
            tx_unicast: typed!(map_names::TX_UNICAST),
            flow_generation: FlowGeneration::map(&get(map_names::FLOW_GENERATION)?)?,
            flood_groups: typed!(map_names::FLOOD_GROUPS),
            flood_plain: typed!(map_names::FLOOD_PLAIN),
            switch: typed!(map_names::SWITCH),
            tunnels: typed!(map_names::TUNNELS),
            tunnel_vlans: typed!(map_names::TUNNEL_VLANS),
            tunnel_flood: typed!(map_names::TUNNEL_FLOOD),
            underlays: typed!(map_names::UNDERLAYS),
            next_hops: typed!(map_names::NEXT_HOPS),
            children: typed!(map_names::CHILDREN),
            dispatch: typed!(map_names::DISPATCH),
            sources: typed!(map_names::SOURCES),
            parents: typed!(map_names::PARENTS),
            addresses: typed!(map_names::ADDRESSES),
            child_tx: typed!(map_names::CHILD_TX),
            neighbours: typed!(map_names::NEIGHBOURS),
            writes: Writes::default(),
        })
    }

    /// Writes the switch-wide settings.
    pub fn set_switch(&mut self, config: SwitchConfig) -> Result<(), DatapathError> {
        self.switch
            .set(0, config, 0)
            .map_err(DatapathError::map("writing switch settings"))?;
        self.flow_generation.bump();
        Ok(())
    }

    /// Adds or replaces a port: its configuration and its devmap entry.
    pub fn set_port(
        &mut self,
        ifindex: u32,
        config: PortConfig,
        egress: &ProgramFd,
    ) -> Result<(), DatapathError> {
        let old = self.ports.get(&ifindex, 0).ok();
        if old.is_some_and(|old| old != config) {
            self.leave_flood_groups(ifindex)?;
        }
        self.writes.before(Guarded::Ports)?;
        let replaced = old.is_some();
        self.ports
            .insert(ifindex, config, 0)
            .map_err(DatapathError::map(format!("adding port {ifindex}")))?;
        self.flow_generation.bump();
        if replaced {
            self.writes.freed(Guarded::Ports);
        }
        self.tx_unicast
            .insert(ifindex, ifindex, None, 0)
            .map_err(|source| DatapathError::DevMap {
                what: format!("adding port {ifindex} to {}", map_names::TX_UNICAST),
                source,
            })?;
        self.tx_ports
            .insert(ifindex, ifindex, Some(egress), 0)
            .map_err(|source| DatapathError::DevMap {
                what: format!("adding port {ifindex} to {}", map_names::TX_PORTS),
                source,
            })
    }

    /// Removes the learned FDB entries behind port `ifindex`; static ones stay.
    pub fn flush_learned(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.flush(|entry| entry.ifindex == ifindex && !entry.is_static())
    }

    /// Removes the FDB entries that `which` picks.
    fn flush(&mut self, which: impl Fn(&FdbEntry) -> bool) -> Result<(), DatapathError> {
        let picked: Vec<FdbKey> = self
            .fdb_entries()?
            .into_iter()
            .filter(|(_, entry)| which(entry))
            .map(|(key, _)| key)
            .collect();
        for key in &picked {
            self.remove_fdb(key)?;
        }
        Ok(())
    }

    /// Removes a port: its configuration, its devmap entry and every FDB entry behind it.
    pub fn remove_port(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        let what = format!("removing port {ifindex}");
        self.leave_flood_groups(ifindex)?;
        self.writes.before(Guarded::Ports)?;
        // The kernel drops devmap entries of unregistered devices by itself.
        unless_missing(self.ports.remove(&ifindex)).map_err(DatapathError::map(&what))?;
        self.flow_generation.bump();
        self.writes.freed(Guarded::Ports);
        unless_missing(self.tx_ports.remove(ifindex)).map_err(DatapathError::map(&what))?;
        unless_missing(self.tx_unicast.remove(ifindex)).map_err(DatapathError::map(what))?;
        self.flush(|entry| entry.ifindex == ifindex)
    }

    /// Replaces the flood set of `vlan` whole; an empty set removes it.
    pub fn set_flood(&mut self, vlan: u16, set: FloodSet) -> Result<(), DatapathError> {
        let what = format!("writing the flood set of VLAN {vlan}");
        let value = (set.len != 0).then_some(set);
        replace_whole(
            &mut self.writes,
            &mut self.flood,
            u32::from(vlan),
            value,
            what,
        )
    }

    /// The VLANs that have a flood set.
    pub fn flood_vlans(&self) -> Result<Vec<u16>, DatapathError> {
        self.flood
            .keys()
            .map(|key| key.map(|vlan| vlan as u16))
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map("reading the flood sets"))
    }

    /// The ifindexes that have a `PORTS` entry.
    pub fn port_ifindexes(&self) -> Result<Vec<u32>, DatapathError> {
        self.ports
            .keys()
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map("reading the ports"))
    }

    /// The flood set of `vlan`, if it has one.
    pub fn flood_set(&self, vlan: u16) -> Option<FloodSet> {
        self.flood.get(&u32::from(vlan), 0).ok()
    }

    /// Sets every counter of `slot` to zero, on every CPU: a reused slot starts afresh.
    pub fn reset_stats(&mut self, slot: u32) -> Result<(), DatapathError> {
        let what = format!("resetting counters of slot {slot}");
        let cpus = aya::util::nr_cpus()
            .map_err(|(_, error)| DatapathError::map(what.clone())(MapError::IoError(error)))?;
        let zeros = aya::maps::PerCpuValues::try_from(vec![PortStats::default(); cpus])
            .map_err(|error| DatapathError::map(what.clone())(MapError::IoError(error)))?;
        self.stats
            .set(slot, zeros, 0)
            .map_err(DatapathError::map(what.clone()))?;
        let full = aya::maps::PerCpuValues::try_from(vec![TokenBucket::default(); cpus])
            .map_err(|error| DatapathError::map(what.clone())(MapError::IoError(error)))?;
        self.flood_buckets
            .set(slot, full, 0)
            .map_err(DatapathError::map(what.clone()))?;
        // No entry counts in a free slot (the port's removal deleted its entries), so the two
        // halves of the count start again from zero together.
        self.mac_counts
            .set(slot, MacCount::default(), 0)
            .map_err(DatapathError::map(what.clone()))?;
        self.mac_forgotten
            .set(slot, 0, 0)
            .map_err(DatapathError::map(what))
    }

    /// Learned entries the port in `slot` holds, as its `max_macs` counts them.
    pub fn macs_held(&self, slot: u32) -> Result<u64, DatapathError> {
        let what = format!("reading the learned-entry count of slot {slot}");
        let count = self
            .mac_counts
            .get(&slot, 0)
            .map_err(DatapathError::map(what.clone()))?;
        let forgotten = self
            .mac_forgotten
            .get(&slot, 0)
            .map_err(DatapathError::map(what))?;
        Ok(count.held(forgotten))
    }

    /// How many stations the datapath has learned since the switch started (new entries,
    /// switch-wide; never less than before): a reading that changed means a new station.
    pub fn stations_learned(&self) -> Result<u64, DatapathError> {
        let count = self
            .mac_counts
            .get(&TOTAL_SLOT, 0)
            .map_err(DatapathError::map(
                "reading the switch-wide learned-entry count",
            ))?;
        Ok(count.learned)
    }

    /// Takes a deleted or replaced learned entry off the count of the port that held it, and
    /// off the switch-wide count.
    fn forget(&mut self, old: Option<FdbEntry>) -> Result<(), DatapathError> {
        let Some(slot) = old
            .map(|entry| entry.slot())
            .filter(|slot| *slot != NO_SLOT)
        else {
            return Ok(());
        };
        for slot in [slot, TOTAL_SLOT] {
            let what = format!("updating the learned-entry count of slot {slot}");
            let forgotten = self
                .mac_forgotten
                .get(&slot, 0)
                .map_err(DatapathError::map(what.clone()))?;
            self.mac_forgotten
                .set(slot, forgotten + 1, 0)
                .map_err(DatapathError::map(what))?;
        }
        Ok(())
    }

    /// Counters of the port in `slot`, summed over CPUs.
    pub fn port_stats(&self, slot: u32) -> Result<PortStats, DatapathError> {
        let per_cpu = self
            .stats
            .get(&slot, 0)
            .map_err(DatapathError::map(format!(
                "reading counters of slot {slot}"
            )))?;
        let mut sum = PortStats::default();
        for stats in per_cpu.iter() {
            sum.accumulate(stats);
        }
        Ok(sum)
    }

    /// Answers ARP/ND requests for `key` with `mac`.
    pub fn set_neighbour(&mut self, key: NeighbourKey, mac: MacAddr) -> Result<(), DatapathError> {
        self.neighbours
            .insert(key, mac, 0)
            .map_err(DatapathError::map("writing a neighbour"))
    }

    /// Stops answering for `key`.
    pub fn remove_neighbour(&mut self, key: &NeighbourKey) -> Result<(), DatapathError> {
        unless_missing(self.neighbours.remove(key))
            .map_err(DatapathError::map("removing a neighbour"))
    }

    /// The FDB entry of `key`, if there is one.
    pub fn fdb(&self, key: &FdbKey) -> Option<FdbEntry> {
        self.fdb.get(key, 0).ok()
    }

    /// Every FDB entry.
    pub fn fdb_entries(&self) -> Result<Vec<(FdbKey, FdbEntry)>, DatapathError> {
        self.fdb
            .iter()
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map("reading the FDB"))
    }

    /// Adds or replaces an FDB entry.
    ///
    /// A learned entry replaced goes off its port's count.
    pub fn set_fdb(&mut self, key: FdbKey, entry: FdbEntry) -> Result<(), DatapathError> {
        let old = self.fdb.get(&key, 0).ok();
        self.fdb
            .insert(key, entry, 0)
            .map_err(DatapathError::map("writing an FDB entry"))?;
        self.flow_generation.bump();
        self.forget(old)
    }

    /// Removes an FDB entry; one that is already gone is not an error. A learned entry goes off
    /// its port's count.
    pub fn remove_fdb(&mut self, key: &FdbKey) -> Result<(), DatapathError> {
        let old = self.fdb.get(key, 0).ok();
        unless_missing(self.fdb.remove(key))
            .map_err(DatapathError::map("removing an FDB entry"))?;
        self.flow_generation.bump();
        self.forget(old)
    }
}

/// Replaces the value of `key` in a map of sets that programs read whole (`FLOOD`,
/// `TUNNEL_FLOOD`) with `value`, or removes it for `None`, under the barrier discipline.
pub(super) fn replace_whole<V: aya::Pod>(
    writes: &mut Writes,
    map: &mut HashMap<MapData, u32, V>,
    key: u32,
    value: Option<V>,
    what: String,
) -> Result<(), DatapathError> {
    writes.before(Guarded::Flood)?;
    let existed = map.get(&key, 0).is_ok();
    match value {
        Some(value) => map
            .insert(key, value, 0)
            .map_err(DatapathError::map(what))?,
        None => unless_missing(map.remove(&key)).map_err(DatapathError::map(what))?,
    }
    if existed {
        writes.freed(Guarded::Flood);
    }
    Ok(())
}

/// A removal's result, where a key that is already gone counts as success.
pub(super) fn unless_missing(result: Result<(), MapError>) -> Result<(), MapError> {
    match result {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(error))
            if error.io_error.raw_os_error() == Some(libc::ENOENT) =>
        {
            Ok(())
        }
        other => other,
    }
}
