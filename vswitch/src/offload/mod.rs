//! Offload experiments: the filter-and-drop stage of the `vswitch-offload` object, loaded bound
//! to a device and attached in hardware mode (XDP `HW_MODE`, or a cls_bpf filter with
//! `skip_sw`).
//!
//! aya 0.14 has no way to load a program or create a map for a device (`prog_ifindex`,
//! `map_ifindex`), so this module parses the object with aya-obj, creates the maps and loads
//! the program with the `bpf` system call itself, then hands the map to aya for typed access.

mod datapath;
mod ports;
mod sys;

use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};

pub use crate::config::{OFFLOAD_WORDS, Offload, OffloadHook};
use aya::maps::{Array, Map, MapData};
pub use datapath::Datapath;
pub use ports::PortOffloads;
use vswitch_common::{map_names, port::PortConfig, program_names};

use crate::netlink::Links;

/// The compiled offload object, built by `build.rs` from `vswitch-ebpf/src/bin/vswitch-offload.rs`.
pub static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vswitch-offload"));

/// Why offloading failed.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    /// The offload object could not be parsed or linked.
    #[error("the offload object: {0}")]
    Object(String),
    /// The kernel or the device refused a step; `hint` says what that usually means.
    #[error("{ifname} refused {what}: {error}; {hint}{log}")]
    Refused {
        /// The device.
        ifname: String,
        /// The step.
        what: String,
        /// The kernel's answer.
        error: std::io::Error,
        /// What the answer usually means.
        hint: &'static str,
        /// The verifier's log, if any, with a leading newline.
        log: String,
    },
    /// Reading or writing the device-bound map failed.
    #[error("{what}: {source}")]
    Map {
        /// What was being done.
        what: String,
        /// aya's error.
        source: aya::maps::MapError,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The device refused the skip_sw tc filter.
    #[error("{source} (the device needs `ethtool -K {ifname} hw-tc-offload on`)")]
    Filter {
        /// The device.
        ifname: String,
        /// The netlink error.
        source: crate::netlink::NetlinkError,
    },
    /// Reading a link failed.
    #[error(transparent)]
    Link(#[from] crate::netlink::NetlinkError),
}

/// The filter stage loaded for one device and attached to it. Dropping it detaches the XDP
/// program; a tc filter must be removed with [`Offloaded::detach`].
pub struct Offloaded {
    /// Where it is attached.
    hook: OffloadHook,
    /// The device's ifindex.
    ifindex: u32,
    /// The program, kept open while attached.
    _program: OwnedFd,
    /// The device-bound filter map, kept open while attached.
    _filter: Array<MapData, PortConfig>,
    /// Its kernel ID.
    map_id: u32,
    /// The XDP link; `None` for tc.
    _xdp_link: Option<OwnedFd>,
}

impl Offloaded {
    /// Loads the filter bound to device `ifindex` (named `ifname`), writes `port` into its map
    /// and attaches it at `hook` in hardware mode. `links` is for the tc filter.
    pub async fn attach(
        links: &Links,
        hook: OffloadHook,
        ifname: &str,
        ifindex: u32,
        port: PortConfig,
    ) -> Result<Self, OffloadError> {
        let refused = |what: &str| {
            let what = what.to_string();
            let ifname = ifname.to_string();
            move |(error, hint, log): (std::io::Error, &'static str, String)| {
                OffloadError::Refused {
                    ifname,
                    what,
                    error,
                    hint,
                    log,
                }
            }
        };
        let name = match hook {
            OffloadHook::Xdp => program_names::OFFLOAD_XDP,
            OffloadHook::Tc => program_names::OFFLOAD_TC,
        };
        let (program, map) = sys::load_bound(OBJECT, name, map_names::OFFLOAD_FILTER, ifindex)
            .map_err(|error| match error {
                sys::LoadError::Object(text) => OffloadError::Object(text),
                sys::LoadError::Refused {
                    what,
                    source,
                    hint,
                    log,
                } => refused(&what)((source, hint, log)),
            })?;
        let opening = |source| OffloadError::Map {
            what: format!("opening {}", map_names::OFFLOAD_FILTER),
            source,
        };
        let data = MapData::from_fd(map).map_err(opening)?;
        let map_id = data.info().map_err(opening)?.id();
        let mut filter: Array<MapData, PortConfig> =
            Map::Array(data).try_into().map_err(opening)?;
        filter.set(0, port, 0).map_err(|source| OffloadError::Map {
            what: format!("writing {} on {ifname}", map_names::OFFLOAD_FILTER),
            source,
        })?;
        let xdp_link = match hook {
            OffloadHook::Xdp => Some(sys::xdp_link_hw(program.as_fd(), ifindex).map_err(
                |source| {
                    refused(&format!("attaching {name} in XDP hardware mode"))((
                        source,
                        sys::hint_attach(),
                        String::new(),
                    ))
                },
            )?),
            OffloadHook::Tc => {
                crate::datapath::ensure_clsact(ifname).map_err(|error| OffloadError::Io {
                    what: format!("adding a clsact qdisc to {ifname}"),
                    source: std::io::Error::other(error),
                })?;
                links
                    .add_hw_filter(ifindex, program.as_raw_fd(), name)
                    .await
                    .map_err(|source| OffloadError::Filter {
                        ifname: ifname.to_string(),
                        source,
                    })?;
                None
            }
        };
        Ok(Self {
            hook,
            ifindex,
            _program: program,
            _filter: filter,
            map_id,
            _xdp_link: xdp_link,
        })
    }

    /// The hook the filter runs at.
    pub fn hook(&self) -> OffloadHook {
        self.hook
    }

    /// The kernel ID of the device-bound filter map.
    pub fn map_id(&self) -> u32 {
        self.map_id
    }

    /// Detaches the filter (for tc, deletes the filter) and unloads it.
    pub async fn detach(self, links: &Links) -> Result<(), OffloadError> {
        if self.hook == OffloadHook::Tc {
            links.del_hw_filter(self.ifindex).await?;
        }
        Ok(())
    }
}

/// Reads the port configuration in the device-bound filter map with kernel ID `id` (any
/// process may do this: the kernel asks the device).
pub fn read_filter(id: u32) -> Result<PortConfig, OffloadError> {
    let what = format!(
        "reading the offloaded {} (map id {id})",
        map_names::OFFLOAD_FILTER
    );
    let map = |source| OffloadError::Map {
        what: what.clone(),
        source,
    };
    let data = MapData::from_id(id).map_err(map)?;
    let filter: Array<MapData, PortConfig> = Map::Array(data).try_into().map_err(map)?;
    filter.get(&0, 0).map_err(map)
}
