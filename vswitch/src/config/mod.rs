//! The switch configuration: a TOML file, parsed and validated before anything is created.

mod cluster;
mod dispatch;
mod file;
pub mod mtu;
mod offload;
mod validate;
mod vxlan;

use std::{net::IpAddr, path::Path};

use vswitch_common::mac::MacAddr;

use crate::netlink::device::DeviceSpec;

pub use offload::{OFFLOAD_WORDS, Offload, OffloadHook};

pub use cluster::{AuthSpec, ClusterSpec, TlsSpec};
pub use dispatch::{ChildKind, ChildSpec, ParentSpec};
pub use validate::{ConfigError, DEFAULT_NAME, check_ifname, check_instance_name};
pub(crate) use validate::{check_netns_name, parse_cidr};
pub use vxlan::tunnel_conflict;

/// The built-in demo configuration, used by `vswitch run` without `--config`.
pub const DEMO: &str = include_str!("demo.toml");

/// Where the demo configuration says it comes from in error messages.
pub const DEMO_PATH: &str = "<built-in demo>";

/// A validated switch configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Instance name, also the pin directory's name.
    pub name: String,
    /// Learned address lifetime, in seconds.
    pub ageing_secs: u64,
    /// Ports in the order they were configured.
    pub ports: Vec<PortSpec>,
    /// `[switch] offload`: the default of existing ports (`vswitch run --offload` overrides it).
    pub offload: Offload,
    /// The `[[vxlan]]` tunnels.
    pub vxlans: Vec<VxlanSpec>,
    /// `[[device]]`: devices the agent creates before the ports, in this order.
    pub devices: Vec<DeviceSpec>,
    /// The `[[macvlan]]` and `[[ipvlan]]` parents.
    pub parents: Vec<ParentSpec>,
    /// `[cluster]`: VTEPs and MACs shared with other hosts through etcd.
    pub cluster: Option<ClusterSpec>,
    /// `[switch] max_macs`: the most learned entries of all ports together; `None` for no
    /// limit but the FDB's capacity.
    pub max_macs: Option<u32>,
    /// `[switch] loop_guard_moves` and `loop_guard_hold_secs`; `None` when the guard is off.
    pub loop_guard: Option<LoopGuardSpec>,
}

/// The loop guard's settings: a port into which learned stations move faster than
/// `moves_per_sec` is blocked for `hold_secs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopGuardSpec {
    /// Station moves a second into one port that count as a loop.
    pub moves_per_sec: u32,
    /// How long a blocked port stays blocked, in seconds.
    pub hold_secs: u64,
}

impl LoopGuardSpec {
    /// The hold-down when `loop_guard_hold_secs` is not given.
    pub const DEFAULT_HOLD_SECS: u64 = 30;
}

/// One `[[vxlan]]`: a switch VLAN carried over a VNI, with the switch as a VTEP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VxlanSpec {
    /// The VXLAN network identifier.
    pub vni: u32,
    /// The switch VLAN it carries.
    pub vlan: u16,
    /// The local VTEP address.
    pub local: IpAddr,
    /// Remote VTEPs that broadcast, multicast and unknown unicast frames go to.
    pub remotes: Vec<IpAddr>,
    /// The interface that carries the encapsulated frames.
    pub underlay: String,
    /// The UDP destination port.
    pub dstport: u16,
    /// Whether inner source addresses are learned from received frames.
    pub learning: bool,
}

/// Which hook a port's frames are switched at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// TCX ingress: for ports facing a container's stack (GSO and checksum state survive).
    Tc,
    /// XDP: for ports whose frames arrive as XDP frames (NICs, uplinks).
    Xdp,
}

/// How a port takes part in VLANs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VlanMode {
    /// Untagged frames in one VLAN.
    Access(u16),
    /// Tagged frames of several VLANs, and untagged ones in the native VLAN if any.
    Trunk {
        /// VLANs carried tagged.
        vlans: Vec<u16>,
        /// VLAN of untagged frames.
        native: Option<u16>,
    },
}

impl VlanMode {
    /// Every VLAN the port is a member of, tagged or not.
    pub fn members(&self) -> Vec<u16> {
        match self {
            Self::Access(vid) => vec![*vid],
            Self::Trunk { vlans, native } => native.iter().chain(vlans).copied().collect(),
        }
    }
}

/// One port of the switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Interface name on the switch side.
    pub name: String,
    /// Where the port comes from.
    pub kind: PortKind,
    /// VLAN membership.
    pub vlan: VlanMode,
    /// Hook the datapath attaches at.
    pub hook: Hook,
    /// Whether source addresses are learned on this port.
    pub learning: bool,
    /// The port's own `offload`, if set (only existing ports may set one).
    pub offload: Option<Offload>,
    /// `mtu`: of both veth ends for a created port, of the interface for an existing one; the
    /// kernel's default (an existing interface: its MTU as it is) when unset.
    pub mtu: Option<u32>,
    /// Whether the interface is a veth whose peer is in another namespace, so that frames for
    /// it go straight to the peer with `bpf_redirect_peer`: every veth the switch creates, and
    /// an existing one with `redirect_peer = true` (as `vswitch-cni` adds them). Not set for
    /// other existing veths, whose peer may run XDP (another switch's port) that the shortcut
    /// would skip.
    pub redirect_peer: bool,
    /// `max_macs`: the most learned FDB entries the port may hold; `None` for no limit.
    pub max_macs: Option<u32>,
    /// `flood_pps`: the most frames a second the port may flood (broadcast, multicast, unknown
    /// unicast); `None` for no limit.
    pub flood_pps: Option<u32>,
    /// `locked`: only frames from `allowed_macs` and static entries of the port pass, and the
    /// port learns nothing.
    pub locked: bool,
    /// `allowed_macs`: static FDB entries towards the port, in each of its VLANs.
    pub allowed_macs: Vec<MacAddr>,
}

impl PortSpec {
    /// Port `name` with only its kind, VLANs, hook and learning set: no offload, the kernel's
    /// MTU, no `redirect_peer`, no limits, not locked.
    pub fn plain(name: String, kind: PortKind, vlan: VlanMode, hook: Hook, learning: bool) -> Self {
        Self {
            name,
            kind,
            vlan,
            hook,
            learning,
            offload: None,
            mtu: None,
            redirect_peer: false,
            max_macs: None,
            flood_pps: None,
            locked: false,
            allowed_macs: Vec::new(),
        }
    }
}

/// Where a port's interface comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A veth pair created by the switch, whose peer is moved into `netns` and named `eth0`.
    Veth {
        /// Network namespace of the peer; created if missing.
        netns: String,
        /// Addresses with prefix length on the peer.
        addresses: Vec<(IpAddr, u8)>,
    },
    /// An interface that already exists in the switch's namespace.
    Existing,
}

/// Why a port cannot join a set of ports.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortConflict {
    /// Another port has the same name.
    #[error("port {0} is configured twice")]
    DuplicateName(String),
    /// Another port's peer already lives in the namespace.
    #[error("netns {0} already holds another port's eth0; use one port per netns")]
    SharedNetns(String),
    /// The VLAN would have more members than the TCX flood loop handles.
    #[error("VLAN {0} has more than {max} ports", max = vswitch_common::MAX_FLOOD_PORTS)]
    VlanFull(u16),
    /// The switch would have more ports than its maps hold.
    #[error("at most {max} ports are supported", max = vswitch_common::MAX_PORTS - 1)]
    TooManyPorts,
}

/// Whether `port` may join `ports`: the rules between ports, shared by the config file's
/// validation and the live `port add`.
pub fn admit_port(ports: &[PortSpec], port: &PortSpec) -> Result<(), PortConflict> {
    if ports.len() + 1 >= vswitch_common::MAX_PORTS as usize {
        return Err(PortConflict::TooManyPorts);
    }
    if ports.iter().any(|other| other.name == port.name) {
        return Err(PortConflict::DuplicateName(port.name.clone()));
    }
    if let PortKind::Veth { netns, .. } = &port.kind
        && ports.iter().any(
            |other| matches!(&other.kind, PortKind::Veth { netns: theirs, .. } if theirs == netns),
        )
    {
        return Err(PortConflict::SharedNetns(netns.clone()));
    }
    for vid in port.vlan.members() {
        let members = ports
            .iter()
            .filter(|other| other.vlan.members().contains(&vid))
            .count();
        if members >= vswitch_common::MAX_FLOOD_PORTS {
            return Err(PortConflict::VlanFull(vid));
        }
    }
    Ok(())
}

impl PortKind {
    /// The namespace of a veth port's peer; `None` for an existing interface.
    pub fn netns(&self) -> Option<&str> {
        match self {
            Self::Veth { netns, .. } => Some(netns),
            Self::Existing => None,
        }
    }
}

impl Config {
    /// Checks the rules between this config's ports, as [`admit_port`] one after another,
    /// and between the ports and the tunnels.
    pub fn check_ports(&self) -> Result<(), String> {
        for (index, port) in self.ports.iter().enumerate() {
            admit_port(&self.ports[..index], port).map_err(|conflict| conflict.to_string())?;
            if let Some(conflict) = tunnel_conflict(&self.vxlans, port) {
                return Err(conflict);
            }
            if let Some(conflict) = dispatch::port_conflict(&self.parents, port) {
                return Err(conflict);
            }
            if let Some(tunnel) = self
                .vxlans
                .iter()
                .find(|tunnel| tunnel.underlay == port.name)
            {
                return Err(format!(
                    "{} is the underlay of VNI {}: it cannot also be a port",
                    port.name, tunnel.vni
                ));
            }
        }
        Ok(())
    }

    /// What the switch has, for messages: `3 ports`, or `0 ports and 2 dispatch parents`.
    pub fn summary(&self, ports: usize) -> String {
        match self.parents.len() {
            0 => format!("{ports} ports"),
            parents => format!("{ports} ports and {parents} dispatch parents"),
        }
    }

    /// The tunnel that carries `vlan`, if any.
    pub fn tunnel_of(&self, vlan: u16) -> Option<&VxlanSpec> {
        self.vxlans.iter().find(|tunnel| tunnel.vlan == vlan)
    }

    /// Parses and validates `text`, which came from `path` (used in error messages).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        validate::validate(path, text)
    }

    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// What `port` offloads: its own setting, else the switch's for an existing port. Veth
    /// ports that the switch creates have nothing to offload to.
    pub fn port_offload(&self, port: &PortSpec) -> Offload {
        match (port.offload, &port.kind) {
            (Some(offload), _) => offload,
            (None, PortKind::Existing) => self.offload,
            (None, PortKind::Veth { .. }) => Offload::default(),
        }
    }

    /// The built-in demo configuration.
    pub fn demo() -> Self {
        Self::parse(Path::new(DEMO_PATH), DEMO).expect("the built-in demo config is valid")
    }
}
