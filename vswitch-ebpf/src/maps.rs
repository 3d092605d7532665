//! The maps shared with the controller. Names are in `vswitch_common::map_names`.

use aya_ebpf::{
    macros::map,
    maps::{Array, DevMapHash, HashMap, LruHashMap, PerCpuArray},
};
use vswitch_common::{
    FDB_CAPACITY, MAX_PORTS,
    fdb::{FdbEntry, FdbKey},
    port::{FloodSet, PortConfig},
    stats::PortStats,
    switch::SwitchConfig,
    vlan::VLAN_COUNT,
};

/// Port configuration by ifindex.
#[map]
pub static PORTS: HashMap<u32, PortConfig> = HashMap::with_max_entries(MAX_PORTS, 0);

/// The forwarding database.
#[map]
pub static FDB: LruHashMap<FdbKey, FdbEntry> = LruHashMap::with_max_entries(FDB_CAPACITY, 0);

/// Per-CPU counters by port slot; slot 0 counts frames from interfaces that are not ports.
#[map]
pub static PORT_STATS: PerCpuArray<PortStats> = PerCpuArray::with_max_entries(MAX_PORTS, 0);

/// Ports that the TCX path floods to, by VLAN.
#[map]
pub static FLOOD: Array<FloodSet> = Array::with_max_entries(VLAN_COUNT as u32, 0);

/// Every port by ifindex, with the egress program, for XDP redirects and broadcasts.
#[map]
pub static TX_PORTS: DevMapHash = DevMapHash::with_max_entries(MAX_PORTS, 0);

/// Switch-wide settings, at index 0.
#[map]
pub static SWITCH: Array<SwitchConfig> = Array::with_max_entries(1, 0);
