//! The maps shared with the controller. Names are in `vswitch_common::map_names`.

use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, BPF_F_NO_PREALLOC},
    btf_maps,
    macros::{btf_map, map},
    maps::{Array, DevMapHash, HashMap, PerCpuArray, ProgramArray},
};
use vswitch_common::{
    FDB_CAPACITY, MAX_PORTS,
    budget::MacCount,
    dispatch::{Child, ChildKey, MAX_PARENTS, MAX_SOURCES, Parent, SourceKey},
    fdb::{FdbEntry, FdbKey},
    flood_group::FloodGroup,
    flow_cache::{CachedFlow, FLOW_CACHE_SLOTS},
    ipvlan::AddressKey,
    mac::MacAddr,
    port::{FloodSet, PortConfig},
    stats::PortStats,
    storm::TokenBucket,
    suppression::{MAX_NEIGHBOURS, NeighbourKey},
    switch::SwitchConfig,
    tc_stages,
    vlan::VLAN_COUNT,
    vxlan::{MAX_REMOTES, MAX_TUNNELS, NextHop, RemoteSet, Tunnel, Underlay, Vtep},
};

/// Port configuration by ifindex. Only the controller writes it, under the RCU-barrier
/// discipline of `vswitch/src/datapath/barrier.rs`, so a value read here is the old or the new
/// one, never a mix.
#[map]
pub static PORTS: HashMap<u32, PortConfig> = HashMap::with_max_entries(MAX_PORTS, 0);

/// The forwarding database. Not an LRU: a full table stops learning (new stations are
/// flooded) instead of evicting stations that are talking. Memory is taken per entry.
/// The datapath changes existing entries in place, one aligned word at a time (see
/// `pipeline::learn`), so readers see each field old or new.
#[map]
pub static FDB: HashMap<FdbKey, FdbEntry> =
    HashMap::with_max_entries(FDB_CAPACITY, BPF_F_NO_PREALLOC);

/// Per-CPU counters by port slot; slot 0 counts frames from interfaces that are not ports.
#[map]
pub static PORT_STATS: PerCpuArray<PortStats> = PerCpuArray::with_max_entries(MAX_PORTS, 0);

/// The datapath's half of each port's learned-entry count, by port slot (see
/// `vswitch_common::budget`). Shared by every CPU and added to with atomic adds: a per-CPU count
/// could not be compared with a limit. The agent only zeroes a slot before a new port takes it.
#[map]
pub static MAC_COUNTS: Array<MacCount> = Array::with_max_entries(MAX_PORTS, 0);

/// The agent's half: how many learned entries of each port it deleted, by port slot. Only the
/// agent writes it.
#[map]
pub static MAC_FORGOTTEN: Array<u64> = Array::with_max_entries(MAX_PORTS, 0);

/// The ports' `flood_pps` token buckets, by port slot. Per CPU: no atomics and no shared cache
/// line on the flood path, and a sender's frames arrive on one CPU at a time (a veth's receive
/// runs where its sender runs), so one host gets `flood_pps`; a port whose frames arrive on
/// every CPU at once gets up to `flood_pps` on each.
#[map]
pub static FLOOD_BUCKETS: PerCpuArray<TokenBucket> = PerCpuArray::with_max_entries(MAX_PORTS, 0);

/// Ports that the TCX path floods to, by VLAN. A hash, not an array: the controller replaces a
/// set as a new element (an array value would be rewritten in place while frames read it),
/// under the same barrier discipline as `PORTS`.
#[map]
pub static FLOOD: HashMap<u32, FloodSet> =
    HashMap::with_max_entries(VLAN_COUNT as u32, BPF_F_NO_PREALLOC);

/// Every port by ifindex, with the egress program, for XDP floods: the program decides per
/// copy whether and how it leaves.
#[map]
pub static TX_PORTS: DevMapHash = DevMapHash::with_max_entries(MAX_PORTS, 0);

/// Every port by ifindex, without a program, for XDP unicast: the ingress program has already
/// decided and tagged the frame for its one target.
#[map]
pub static TX_UNICAST: DevMapHash = DevMapHash::with_max_entries(MAX_PORTS, 0);

/// The members of each plain flood group (see `vswitch_common::flood_group`), by
/// `Arrival::key`: the VLANs whose frames of that arrival every member sends unchanged.
/// Replaced whole like `FLOOD`; the controller removes an entry before it changes the group's
/// devmap and writes it back after.
#[map]
pub static FLOOD_GROUPS: HashMap<u32, FloodGroup> =
    HashMap::with_max_entries(2 * VLAN_COUNT as u32, BPF_F_NO_PREALLOC);

/// The devmap without a program of each plain flood group, by the same key: an XDP flood whose
/// group is in `FLOOD_GROUPS` is one broadcast through it, and runs no program per copy.
#[btf_map]
pub static FLOOD_PLAIN: btf_maps::HashOfMaps<
    u32,
    btf_maps::DevMapHash<{ MAX_PORTS as usize }>,
    { 2 * VLAN_COUNT },
> = btf_maps::HashOfMaps::new();

/// The maps' generation for the flow cache, at index 0: the controller adds one to it after
/// each write to `PORTS`, `FDB` or `SWITCH` (through a memory mapping, hence mmapable), and the
/// datapath when a station moves; both with atomic adds.
#[map]
pub static FLOW_GENERATION: Array<u64> = Array::with_max_entries(1, BPF_F_MMAPABLE);

/// Each CPU's recently forwarded unicast flows (see `vswitch_common::flow_cache`). Not pinned:
/// a new object starts with it empty.
#[map]
pub static FLOW_CACHE: PerCpuArray<CachedFlow> = PerCpuArray::with_max_entries(FLOW_CACHE_SLOTS, 0);

/// Switch-wide settings, at index 0.
#[map]
pub static SWITCH: Array<SwitchConfig> = Array::with_max_entries(1, 0);

/// VXLAN tunnels by VNI, for decapsulation. Written by the controller only, under the barrier
/// discipline of `PORTS`.
#[map]
pub static TUNNELS: HashMap<u32, Tunnel> = HashMap::with_max_entries(MAX_TUNNELS, 0);

/// The same tunnels by the VLAN they carry, for encapsulation.
#[map]
pub static TUNNEL_VLANS: HashMap<u32, Tunnel> = HashMap::with_max_entries(MAX_TUNNELS, 0);

/// The remote VTEPs each VNI floods to (head-end replication), replaced whole like `FLOOD`.
#[map]
pub static TUNNEL_FLOOD: HashMap<u32, RemoteSet> =
    HashMap::with_max_entries(MAX_TUNNELS, BPF_F_NO_PREALLOC);

/// Underlay interfaces by ifindex: their VXLAN port and counter slot.
#[map]
pub static UNDERLAYS: HashMap<u32, Underlay> = HashMap::with_max_entries(MAX_TUNNELS, 0);

/// How to reach each remote VTEP: egress interface, MTU and MAC addresses, which the
/// controller resolves and replaces whole under the barrier discipline of `FLOOD`.
#[map]
pub static NEXT_HOPS: HashMap<Vtep, NextHop> =
    HashMap::with_max_entries(MAX_TUNNELS * MAX_REMOTES as u32, BPF_F_NO_PREALLOC);

/// Children of dispatch parents by their own ifindex. Controller-written, under the barrier
/// discipline of `PORTS`.
#[map]
pub static CHILDREN: HashMap<u32, Child> = HashMap::with_max_entries(MAX_PORTS, 0);

/// The same children by (parent, MAC address): the dispatch lookup.
#[map]
pub static DISPATCH: HashMap<ChildKey, Child> = HashMap::with_max_entries(MAX_PORTS, 0);

/// The addresses source-mode children accept frames from (the value is unused).
#[map]
pub static SOURCES: HashMap<SourceKey, u8> =
    HashMap::with_max_entries(MAX_SOURCES, BPF_F_NO_PREALLOC);

/// Dispatch parents by ifindex, with their children, replaced whole like `FLOOD`.
#[map]
pub static PARENTS: HashMap<u32, Parent> =
    HashMap::with_max_entries(MAX_PARENTS, BPF_F_NO_PREALLOC);

/// ipvlan children by (parent, IP address): the dispatch lookup of the L2 mode.
#[map]
pub static ADDRESSES: HashMap<AddressKey, Child> =
    HashMap::with_max_entries(MAX_SOURCES, BPF_F_NO_PREALLOC);

/// The stages `vswitch_tc` hands frames to, by `vswitch_common::tc_stages` slot. Filled by
/// the controller when it loads the object.
#[map]
pub static TC_STAGES: ProgramArray = ProgramArray::with_max_entries(tc_stages::COUNT, 0);

/// Per CPU, index 0: 1 while a frame the suppression stage did not answer is on its way back
/// into `vswitch_tc` (a tail call, so nothing else runs on the CPU in between), which takes it
/// and switches the frame without asking the stage again.
#[map]
pub static TC_HANDED_BACK: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

/// The MACs of remote stations by (VLAN, IP address), from the cluster's records: ARP
/// requests and neighbour solicitations for them are answered locally (see
/// `vswitch_common::suppression`).
#[map]
pub static NEIGHBOURS: HashMap<NeighbourKey, MacAddr> =
    HashMap::with_max_entries(MAX_NEIGHBOURS, BPF_F_NO_PREALLOC);

/// Every child by ifindex, for XDP redirects from its parent.
#[map]
pub static CHILD_TX: DevMapHash = DevMapHash::with_max_entries(MAX_PORTS, 0);
