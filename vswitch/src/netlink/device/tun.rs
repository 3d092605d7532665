//! `tap` and `tun`: persistent devices whose other end is a file descriptor, made through
//! `/dev/net/tun` (the kernel refuses to create them over rtnetlink).

use std::{ffi::c_short, fs::OpenOptions, io, os::fd::AsRawFd as _};

use netlink_packet_route::link::InfoTun;
use rtnetlink::packet_core::Nla as _;
use serde_json::{Map, Value, json};

use super::{DeviceError, Feature, Kind, Recipe, Resolved};
use crate::netlink::NetlinkError;

/// The clone device of tun and tap.
const TUN_DEVICE: &str = "/dev/net/tun";
/// `IFLA_TUN_OWNER`: the owner's uid (u32).
const IFLA_TUN_OWNER: u16 = 1;
/// `IFLA_TUN_GROUP`: the owner's gid (u32).
const IFLA_TUN_GROUP: u16 = 2;
/// `IFLA_TUN_TYPE`: `IFF_TUN` or `IFF_TAP` (u8).
const IFLA_TUN_TYPE: u16 = 3;
/// `IFLA_TUN_MULTI_QUEUE` (u8).
const IFLA_TUN_MULTI_QUEUE: u16 = 7;
/// The owner and group attributes of a device without one.
const NO_OWNER: u32 = u32::MAX;

/// The options of a tap or tun device.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunOptions {
    /// The user (uid) allowed to attach to it without CAP_NET_ADMIN.
    #[arg(long)]
    pub owner: Option<u32>,
    /// The group (gid) allowed to attach to it.
    #[arg(long)]
    pub group: Option<u32>,
    /// Allow several queues (file descriptors) on it.
    #[arg(long)]
    #[serde(default)]
    pub multi_queue: bool,
}

/// The tap kind: Ethernet frames.
#[derive(Clone, Copy, Debug)]
pub struct Tap<'a>(pub &'a TunOptions);

/// The tun kind: IP packets.
#[derive(Clone, Copy, Debug)]
pub struct Tun<'a>(pub &'a TunOptions);

/// A device for `/dev/net/tun` to make.
#[derive(Clone, Debug)]
pub struct Request {
    name: String,
    flags: c_short,
    owner: Option<u32>,
    group: Option<u32>,
}

fn request(name: &str, options: &TunOptions, kind: libc::c_int) -> Recipe {
    let mut flags = kind | libc::IFF_NO_PI;
    if options.multi_queue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    Recipe::Tun(Request {
        name: name.to_string(),
        flags: c_short::try_from(flags).expect("the IFF_ flags fit a short"),
        owner: options.owner,
        group: options.group,
    })
}

const FEATURE: Feature = Feature::new("tun/tap driver", "CONFIG_TUN");

impl Kind for Tap<'_> {
    fn name(&self) -> &'static str {
        "tap"
    }

    fn feature(&self) -> Feature {
        FEATURE
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        request(name, self.0, libc::IFF_TAP)
    }
}

impl Kind for Tun<'_> {
    fn name(&self) -> &'static str {
        "tun"
    }

    fn feature(&self) -> Feature {
        FEATURE
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        request(name, self.0, libc::IFF_TUN)
    }
}

/// `struct ifreq` as `TUNSETIFF` reads it: a name and the flags.
#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: c_short,
    padding: [u8; 22],
}

/// Makes the device `request` describes, persistent, so that it outlives this process.
pub fn create(request: &Request, kind: &'static str) -> Result<(), DeviceError> {
    let what = format!("creating {kind} {}", request.name);
    let file = match OpenOptions::new().read(true).write(true).open(TUN_DEVICE) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(DeviceError::MissingFeature {
                kind,
                feature: FEATURE,
            });
        }
        Err(error) => return Err(NetlinkError::io(what)(error).into()),
    };
    let mut ifreq = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: request.flags,
        padding: [0; 22],
    };
    for (slot, byte) in ifreq.name.iter_mut().zip(request.name.bytes()) {
        *slot = byte as libc::c_char;
    }
    let fd = file.as_raw_fd();
    // SAFETY: `ifreq` is a valid ifreq for TUNSETIFF and outlives the call.
    check(
        unsafe { libc::ioctl(fd, libc::TUNSETIFF, &raw mut ifreq) },
        &what,
    )?;
    if let Some(owner) = request.owner {
        // SAFETY: TUNSETOWNER takes the uid by value.
        check(
            unsafe { libc::ioctl(fd, libc::TUNSETOWNER, libc::c_ulong::from(owner)) },
            &what,
        )?;
    }
    if let Some(group) = request.group {
        // SAFETY: TUNSETGROUP takes the gid by value.
        check(
            unsafe { libc::ioctl(fd, libc::TUNSETGROUP, libc::c_ulong::from(group)) },
            &what,
        )?;
    }
    // SAFETY: TUNSETPERSIST takes a flag by value.
    check(
        unsafe { libc::ioctl(fd, libc::TUNSETPERSIST, 1 as libc::c_ulong) },
        &what,
    )
}

fn check(ret: libc::c_int, what: &str) -> Result<(), DeviceError> {
    if ret < 0 {
        Err(NetlinkError::io(what)(io::Error::last_os_error()).into())
    } else {
        Ok(())
    }
}

/// What the kernel reports about a tun or tap device.
pub fn describe(data: &[InfoTun]) -> Map<String, Value> {
    let mut map = Map::new();
    for attribute in data {
        let InfoTun::Other(nla) = attribute else {
            continue;
        };
        let mut value = vec![0; nla.value_len()];
        nla.emit_value(&mut value);
        let word = value
            .as_slice()
            .try_into()
            .ok()
            .map(u32::from_ne_bytes)
            .filter(|id| *id != NO_OWNER);
        let (key, value) = match (nla.kind(), value.as_slice()) {
            (IFLA_TUN_TYPE, [kind]) => (
                "type",
                json!(if i32::from(*kind) == libc::IFF_TAP {
                    "tap"
                } else {
                    "tun"
                }),
            ),
            (IFLA_TUN_MULTI_QUEUE, [on]) => ("multi_queue", json!(*on != 0)),
            (IFLA_TUN_OWNER, _) => ("owner", json!(word)),
            (IFLA_TUN_GROUP, _) => ("group", json!(word)),
            _ => continue,
        };
        map.insert(key.to_string(), value);
    }
    map
}
