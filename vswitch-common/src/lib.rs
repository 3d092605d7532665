//! Types and forwarding decisions shared by the vswitch datapath and its controller.
//!
//! Everything here is `no_std`, `#[repr(C)]` where it crosses the kernel boundary, and
//! free of panics, so the eBPF programs run exactly the code that the host tests exercise.
//! With the `user` feature, map keys and values implement [`aya::Pod`].
#![cfg_attr(not(test), no_std)]

pub mod bounded;
pub mod budget;
pub mod dispatch;
pub mod egress;
pub mod fdb;
pub mod filter;
pub mod flood_group;
pub mod flood_note;
pub mod flow_cache;
pub mod forward;
pub mod frame;
pub mod ipvlan;
pub mod mac;
pub mod neighbour;
pub mod port;
pub mod source;
pub mod stats;
pub mod storm;
pub mod suppression;
pub mod switch;
pub mod vlan;
pub mod vxlan;

/// Maximum number of ports on one switch instance.
pub const MAX_PORTS: u32 = 256;

/// Maximum number of ports in one VLAN that the TCX path floods to (bounded loop).
pub const MAX_FLOOD_PORTS: usize = 64;

/// Maximum number of entries in the forwarding database.
pub const FDB_CAPACITY: u32 = 1 << 20;

/// Names of the maps, as the eBPF object declares them and userspace opens and pins them.
pub mod map_names {
    /// Port configuration by ifindex.
    pub const PORTS: &str = "PORTS";
    /// The forwarding database.
    pub const FDB: &str = "FDB";
    /// Per-CPU counters by port slot.
    pub const PORT_STATS: &str = "PORT_STATS";
    /// The datapath's half of each port's learned-entry count, by port slot.
    pub const MAC_COUNTS: &str = "MAC_COUNTS";
    /// The agent's half: learned entries of each port it deleted, by port slot.
    pub const MAC_FORGOTTEN: &str = "MAC_FORGOTTEN";
    /// Per-CPU token buckets of the ports' `flood_pps`, by port slot.
    pub const FLOOD_BUCKETS: &str = "FLOOD_BUCKETS";
    /// Ports that the TCX path floods to, by VLAN.
    pub const FLOOD: &str = "FLOOD";
    /// Devmap of every port with the egress program, for XDP floods.
    pub const TX_PORTS: &str = "TX_PORTS";
    /// Devmap of every port without a program, for XDP unicast (tagged at ingress).
    pub const TX_UNICAST: &str = "TX_UNICAST";
    /// The members of each plain XDP flood group, by `flood_group::Arrival::key`.
    pub const FLOOD_GROUPS: &str = "FLOOD_GROUPS";
    /// A devmap without a program per plain XDP flood group, by the same key.
    pub const FLOOD_PLAIN: &str = "FLOOD_PLAIN";
    /// The maps' generation, for the datapath's flow cache.
    pub const FLOW_GENERATION: &str = "FLOW_GENERATION";
    /// Switch-wide settings.
    pub const SWITCH: &str = "SWITCH";
    /// VXLAN tunnels by VNI.
    pub const TUNNELS: &str = "TUNNELS";
    /// VXLAN tunnels by the VLAN they carry.
    pub const TUNNEL_VLANS: &str = "TUNNEL_VLANS";
    /// Remote VTEPs each VNI floods to.
    pub const TUNNEL_FLOOD: &str = "TUNNEL_FLOOD";
    /// Underlay interfaces by ifindex.
    pub const UNDERLAYS: &str = "UNDERLAYS";
    /// How to reach each remote VTEP.
    pub const NEXT_HOPS: &str = "NEXT_HOPS";
    /// Children of macvlan-style parents by their own ifindex.
    pub const CHILDREN: &str = "CHILDREN";
    /// Children by (parent ifindex, MAC address), for dispatch on the parent.
    pub const DISPATCH: &str = "DISPATCH";
    /// Allowed source addresses of source-mode children.
    pub const SOURCES: &str = "SOURCES";
    /// Dispatch parents by ifindex: their children, replaced whole.
    pub const PARENTS: &str = "PARENTS";
    /// ipvlan children by (parent ifindex, IP address).
    pub const ADDRESSES: &str = "ADDRESSES";
    /// Devmap of the children, for XDP redirects from a parent.
    pub const CHILD_TX: &str = "CHILD_TX";
    /// MACs of remote stations by (VLAN, IP address), for ARP/ND suppression.
    pub const NEIGHBOURS: &str = "NEIGHBOURS";
    /// The programs the TCX ingress hands frames to, by [`tc_stages`](super::tc_stages).
    pub const TC_STAGES: &str = "TC_STAGES";
    /// Per CPU: whether the frame `vswitch_tc` is about to see comes back from the suppression
    /// stage.
    pub const TC_HANDED_BACK: &str = "TC_HANDED_BACK";
    /// The offloaded filter's port configuration (device-bound array, index 0).
    pub const OFFLOAD_FILTER: &str = "OFFLOAD_FILTER";
}

/// Slots of the `TC_STAGES` program array. The switching program's stack is nearly full, so
/// ARP/ND suppression runs as a program of its own: `vswitch_tc` tail-calls it for frames that
/// may be requests, and it tail-calls `vswitch_tc` back for what it does not answer.
pub mod tc_stages {
    /// `vswitch_tc_suppress`.
    pub const SUPPRESS: u32 = 0;
    /// `vswitch_tc`, for the frames the suppression stage hands back.
    pub const SWITCH: u32 = 1;
    /// Number of slots.
    pub const COUNT: u32 = 2;
}

/// Names of the programs in the eBPF object.
pub mod program_names {
    /// XDP ingress for ports whose frames arrive as XDP frames.
    pub const XDP_INGRESS: &str = "vswitch_xdp";
    /// Devmap egress program: VLAN membership and tagging per port on XDP floods.
    pub const XDP_EGRESS: &str = "vswitch_xdp_egress";
    /// Pass-through XDP program for veth peers, so native XDP redirects into them work.
    pub const XDP_PASS: &str = "vswitch_xdp_pass";
    /// TCX ingress for container-facing ports.
    pub const TC_INGRESS: &str = "vswitch_tc";
    /// The TCX stage that answers ARP requests and neighbour solicitations for remote stations,
    /// tail-called by [`TC_INGRESS`] for group ARP and IPv6 frames.
    pub const TC_SUPPRESS: &str = "vswitch_tc_suppress";
    /// TCX ingress of a VXLAN underlay: decapsulates the switch's VXLAN frames.
    pub const TC_UNDERLAY: &str = "vswitch_tc_underlay";
    /// XDP on a dispatch parent: unicast to its children by destination MAC.
    pub const DISPATCH_XDP: &str = "vswitch_dispatch_xdp";
    /// TCX ingress of a dispatch parent: group frames to the children that take them.
    pub const DISPATCH_PARENT: &str = "vswitch_dispatch_parent";
    /// TCX ingress of a dispatch child's interface: its frames to siblings or the parent.
    pub const DISPATCH_CHILD: &str = "vswitch_dispatch_child";
    /// The filter-and-drop stage for XDP offload (object `vswitch-offload`).
    pub const OFFLOAD_XDP: &str = "vswitch_offload_xdp";
    /// The filter-and-drop stage as a tc classifier, for cls_bpf `skip_sw` offload.
    pub const OFFLOAD_TC: &str = "vswitch_offload_tc";
}
