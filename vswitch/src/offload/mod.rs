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
use aya_obj::generated::{
    TCA_BPF_FD, TCA_BPF_FLAG_ACT_DIRECT, TCA_BPF_FLAGS, TCA_BPF_FLAGS_GEN, TCA_BPF_NAME,
};
pub use datapath::Datapath;
use futures::StreamExt as _;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
pub use ports::PortOffloads;
use rtnetlink::{
    Handle,
    packet_core::{
        DefaultNla, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage,
        NetlinkPayload,
    },
    packet_route::RouteNetlinkMessage,
};
use vswitch_common::{map_names, port::PortConfig, program_names};

/// The compiled offload object, built by `build.rs` from `vswitch-ebpf/src/bin/vswitch-offload.rs`.
pub static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vswitch-offload"));

/// The tc priority of the offloaded classifier.
const TC_PRIORITY: u16 = 1;

/// `ETH_P_ALL`, the only filter protocol netdevsim offloads.
const ETH_P_ALL: u16 = 0x0003;
/// `TCA_CLS_FLAGS_SKIP_SW` (`linux/pkt_cls.h`, which aya-obj's bindings lack): run the filter in
/// hardware only.
const TCA_CLS_FLAGS_SKIP_SW: u32 = 1 << 1;

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
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// The error.
        source: rtnetlink::Error,
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
    /// and attaches it at `hook` in hardware mode. `handle` is for the tc filter.
    pub async fn attach(
        handle: &Handle,
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
                tc_attach(handle, ifindex, program.as_raw_fd(), name)
                    .await
                    .map_err(|source| OffloadError::Netlink {
                        what: format!(
                            "attaching {name} to {ifname} as a skip_sw tc filter (the device needs \
                             `ethtool -K {ifname} hw-tc-offload on`)"
                        ),
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
    pub async fn detach(self, handle: &Handle) -> Result<(), OffloadError> {
        if self.hook == OffloadHook::Tc {
            let mut message = tc_message(self.ifindex);
            message.header.info = u32::from(TC_PRIORITY) << 16 | u32::from(ETH_P_ALL.to_be());
            request(
                handle,
                RouteNetlinkMessage::DelTrafficFilter(message),
                NLM_F_REQUEST | NLM_F_ACK,
            )
            .await
            .map_err(|source| OffloadError::Netlink {
                what: format!(
                    "removing the offloaded tc filter from ifindex {}",
                    self.ifindex
                ),
                source,
            })?;
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

/// A tc message for the ingress hook of `ifindex`.
fn tc_message(ifindex: u32) -> TcMessage {
    let mut message = TcMessage::with_index(ifindex as i32);
    // clsact's ingress hook, ffff:fff2.
    message.header.parent = TcHandle {
        major: 0xffff,
        minor: 0xfff2,
    };
    message
        .attributes
        .push(TcAttribute::Kind("bpf".to_string()));
    message
}

/// Adds a direct-action cls_bpf filter running `program_fd` in hardware only.
async fn tc_attach(
    handle: &Handle,
    ifindex: u32,
    program_fd: i32,
    name: &str,
) -> Result<(), rtnetlink::Error> {
    let mut message = tc_message(ifindex);
    message.header.info = u32::from(TC_PRIORITY) << 16 | u32::from(ETH_P_ALL.to_be());
    let mut program_name = name.as_bytes().to_vec();
    program_name.push(0);
    message.attributes.push(TcAttribute::Options(vec![
        TcOption::Other(DefaultNla::new(
            TCA_BPF_FD as u16,
            program_fd.to_ne_bytes().to_vec(),
        )),
        TcOption::Other(DefaultNla::new(TCA_BPF_NAME as u16, program_name)),
        TcOption::Other(DefaultNla::new(
            TCA_BPF_FLAGS as u16,
            TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes().to_vec(),
        )),
        TcOption::Other(DefaultNla::new(
            TCA_BPF_FLAGS_GEN as u16,
            TCA_CLS_FLAGS_SKIP_SW.to_ne_bytes().to_vec(),
        )),
    ]));
    request(
        handle,
        RouteNetlinkMessage::NewTrafficFilter(message),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    )
    .await
}

/// Sends `message` and waits for the kernel's acknowledgement.
async fn request(
    handle: &Handle,
    message: RouteNetlinkMessage,
    flags: u16,
) -> Result<(), rtnetlink::Error> {
    let mut request = NetlinkMessage::from(message);
    request.header.flags = flags;
    let mut handle = handle.clone();
    let mut response = handle.request(request)?;
    while let Some(message) = response.next().await {
        if let NetlinkPayload::Error(error) = message.payload
            && error.code.is_some()
        {
            return Err(rtnetlink::Error::NetlinkError(error));
        }
    }
    Ok(())
}
