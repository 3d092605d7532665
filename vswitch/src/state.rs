//! The record of a running instance, which the `show` commands read from any namespace.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{
    config::Hook,
    datapath::MapIds,
    netlink::Created,
    offload::{Datapath, OffloadHook},
};

/// Version of the pinned state's layout (maps, link pins, this record). An agent refuses to
/// adopt state of another layout.
pub const LAYOUT: u32 = 5;

/// Directory of instance records; `/run` is shared by every mount namespace that `ip netns exec`
/// creates, unlike `/sys/fs/bpf`.
pub const RUN_DIR: &str = "/run/vswitch";

/// Where the pins of instance `name` live.
pub fn pin_dir(name: &str) -> PathBuf {
    PathBuf::from("/sys/fs/bpf/vswitch").join(name)
}

/// What a running instance publishes about itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceState {
    /// The agent's process ID.
    pub pid: u32,
    /// [`LAYOUT`] of the agent that wrote the record (records without one are layout 1).
    #[serde(default = "first_layout")]
    pub layout: u32,
    /// Kernel IDs of the maps.
    pub maps: MapIds,
    /// The ports.
    pub ports: Vec<PortRecord>,
    /// The VXLAN tunnels.
    #[serde(default)]
    pub tunnels: Vec<TunnelRecord>,
    /// The `[[device]]` devices the agent created (not those it found), which a normal stop
    /// removes.
    #[serde(default)]
    pub devices: Vec<Created>,
    /// The dispatch parents (`[[macvlan]]`, `[[ipvlan]]`) and their children.
    #[serde(default)]
    pub dispatch: Vec<DispatchRecord>,
}

/// A dispatch parent or child of a running instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRecord {
    /// The interface name.
    pub name: String,
    /// For a child, its parent's name; `None` for a parent.
    pub parent: Option<String>,
    /// Its counter slot.
    pub slot: u32,
    /// What the switch created for a child (its interface, its namespace).
    #[serde(default)]
    pub created: Vec<Created>,
}

/// One VXLAN tunnel of a running instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelRecord {
    /// The VNI.
    pub vni: u32,
    /// The switch VLAN it carries.
    pub vlan: u16,
    /// The local VTEP address.
    pub local: std::net::IpAddr,
    /// The configured remote VTEPs.
    pub remotes: Vec<std::net::IpAddr>,
    /// The underlay interface.
    pub underlay: String,
    /// The underlay's ifindex.
    pub underlay_ifindex: u32,
    /// The UDP destination port.
    pub dstport: u16,
    /// Whether inner source addresses are learned.
    pub learning: bool,
    /// The tunnel's counter slot (decapsulated frames received, encapsulated ones sent).
    pub slot: u32,
    /// The underlay's counter slot (frames refused before their tunnel is known).
    pub underlay_slot: u32,
}

/// One port of a running instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PortRecord {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub ifindex: u32,
    /// Counter slot.
    pub slot: u32,
    /// "access" or "trunk".
    pub mode: String,
    /// Access VLAN, or the trunk's native VLAN.
    pub vlan: Option<u16>,
    /// Tagged VLANs of a trunk.
    pub trunk: Vec<u16>,
    /// Hook the datapath runs at.
    pub hook: Hook,
    /// Where the port's frames are handled (offloaded, native or generic XDP, or tc).
    #[serde(default)]
    pub datapath: Option<Datapath>,
    /// The offloaded filter stage, if the device runs one.
    #[serde(default)]
    pub offload: Option<OffloadRecord>,
    /// The namespace of the veth peer, for ports the switch created.
    #[serde(default)]
    pub netns: Option<String>,
    /// Whether source addresses are learned.
    #[serde(default = "yes")]
    pub learning: bool,
    /// The configured `mtu`, which the next agent compares its own with.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// Whether frames go straight to the veth peer (see `PortSpec::redirect_peer`).
    #[serde(default)]
    pub redirect_peer: bool,
    /// `max_macs`, if set.
    #[serde(default)]
    pub max_macs: Option<u32>,
    /// `flood_pps`, if set.
    #[serde(default)]
    pub flood_pps: Option<u32>,
    /// Whether the port is `locked`.
    #[serde(default)]
    pub locked: bool,
    /// `allowed_macs`, as `02:00:00:00:00:01` strings.
    #[serde(default)]
    pub allowed_macs: Vec<String>,
    /// Added with `port add` rather than by the config file: a reload keeps it.
    #[serde(default)]
    pub live: bool,
    /// The devices the switch created for this port, which its removal deletes.
    #[serde(default)]
    pub created: Vec<Created>,
}

fn first_layout() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// A port's offloaded filter stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OffloadRecord {
    /// The hook the device runs it at.
    pub hook: OffloadHook,
    /// Kernel ID of its device-bound map.
    pub map_id: u32,
}

/// Why an instance record could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No record, or its agent is gone.
    #[error("switch {0} is not running (start it with `vswitch run --name {0}`)")]
    NotRunning(String),
    /// Another agent runs under this name.
    #[error("switch {name} is already running as process {pid}")]
    AlreadyRunning {
        /// Instance name.
        name: String,
        /// Its agent.
        pid: u32,
    },
    /// Reading or writing the record failed.
    #[error("{path}: {source}")]
    Io {
        /// The record's path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The record is not valid JSON.
    #[error("{path}: {source}")]
    Json {
        /// The record's path.
        path: String,
        /// The error.
        source: serde_json::Error,
    },
}

impl InstanceState {
    fn path(name: &str) -> PathBuf {
        PathBuf::from(RUN_DIR).join(format!("{name}.json"))
    }

    /// Reads the record of instance `name`, if its agent is alive.
    pub fn read(name: &str) -> Result<Self, StateError> {
        let state = Self::read_any(name)?;
        if !process_alive(state.pid) {
            return Err(StateError::NotRunning(name.to_string()));
        }
        Ok(state)
    }

    /// Reads the record of instance `name`, whether its agent runs or not (an agent that was
    /// killed or stopped with `--keep` leaves it for the next one to adopt).
    pub fn read_any(name: &str) -> Result<Self, StateError> {
        let path = Self::path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotRunning(name.to_string()));
            }
            Err(source) => {
                return Err(StateError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        serde_json::from_str(&text).map_err(|source| StateError::Json {
            path: path.display().to_string(),
            source,
        })
    }

    /// Fails if a live agent already runs as `name`.
    pub fn ensure_not_running(name: &str) -> Result<(), StateError> {
        match Self::read(name) {
            Ok(state) => Err(StateError::AlreadyRunning {
                name: name.to_string(),
                pid: state.pid,
            }),
            Err(StateError::NotRunning(_) | StateError::Json { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Publishes the record of instance `name`.
    pub fn write(&self, name: &str) -> Result<(), StateError> {
        let path = Self::path(name);
        let io = |source| StateError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(RUN_DIR).map_err(io)?;
        let text = serde_json::to_string_pretty(self).expect("the record serializes");
        let partial = path.with_extension("json.tmp");
        std::fs::write(&partial, text).map_err(io)?;
        std::fs::rename(&partial, &path).map_err(io)
    }

    /// Removes the record of instance `name`.
    pub fn remove(name: &str) {
        let _ = std::fs::remove_file(Self::path(name));
    }
}

/// Whether process `pid` runs: it exists and is not a zombie (a killed agent whose parent has
/// not reaped it yet is gone for every purpose here).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so split at the last ')'.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}
