//! `netdevsim`: simulated devices on the netdevsim bus (ports, SR-IOV VFs, BPF offload), made
//! through its sysfs files; the ports it creates are renamed after the device.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, packet_core::Nla as _};

use super::{DeviceError, Feature, Kind, Recipe, Resolved};
use crate::netlink::{Links, NetlinkError};

/// The netdevsim bus.
const BUS: &str = "/sys/bus/netdevsim";
/// `IFLA_PARENT_DEV_NAME`: the name of a link's parent device (`netdevsimN`).
const IFLA_PARENT_DEV_NAME: u16 = 56;
/// `IFLA_PARENT_DEV_BUS_NAME`: the bus of a link's parent device.
const IFLA_PARENT_DEV_BUS_NAME: u16 = 57;
/// How long new ports may take to appear.
const PORTS_TIMEOUT: Duration = Duration::from_secs(10);
/// The feature.
const FEATURE: Feature = Feature::new("netdevsim driver", "CONFIG_NETDEVSIM");

/// The options of a netdevsim device.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Netdevsim {
    /// The device's ID on the bus (default: the lowest free one).
    #[arg(long)]
    pub id: Option<u32>,
    /// How many ports (network interfaces) it has: port 0 is named NAME, port N NAME-N.
    #[arg(long, default_value_t = 1)]
    #[serde(default = "one")]
    pub ports: u32,
    /// How many SR-IOV virtual functions to enable.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub vfs: u32,
}

fn one() -> u32 {
    1
}

/// A netdevsim device to make.
#[derive(Clone, Debug)]
pub struct Request {
    name: String,
    options: Netdevsim,
}

impl Kind for Netdevsim {
    fn name(&self) -> &'static str {
        "netdevsim"
    }

    fn feature(&self) -> Feature {
        FEATURE
    }

    fn validate(&self) -> Result<(), String> {
        if !(1..=32).contains(&self.ports) {
            return Err(format!("ports {} must be from 1 to 32", self.ports));
        }
        Ok(())
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        Recipe::Netdevsim(Request {
            name: name.to_string(),
            options: self.clone(),
        })
    }
}

/// The name of port `port` of a device called `name`.
pub fn port_name(name: &str, port: u32) -> String {
    if port == 0 {
        name.to_string()
    } else {
        format!("{name}-{port}")
    }
}

/// Makes the device, waits for its ports and names them; returns its bus ID.
pub async fn create(request: &Request, links: &Links) -> Result<u32, DeviceError> {
    load_driver(links).await?;
    let id = match request.options.id {
        Some(id) => id,
        None => free_id()?,
    };
    let what = format!("creating netdevsim{id}");
    for port in 0..request.options.ports {
        let port_name = port_name(&request.name, port);
        crate::config::check_ifname(&port_name).map_err(DeviceError::Invalid)?;
        if links.index(&port_name).await?.is_some() {
            return Err(DeviceError::Exists(port_name));
        }
    }
    write(
        &Path::new(BUS).join("new_device"),
        &format!("{id} {}", request.options.ports),
        &what,
    )?;
    let result = name_ports(request, id, links).await;
    if result.is_err() {
        let _ = delete(id);
    }
    result.map(|()| id)
}

async fn name_ports(request: &Request, id: u32, links: &Links) -> Result<(), DeviceError> {
    let parent = format!("netdevsim{id}");
    let deadline = Instant::now() + PORTS_TIMEOUT;
    let mut ports = loop {
        let ports: Vec<LinkMessage> = links
            .all()
            .await?
            .into_iter()
            .filter(|link| parent_device(link).as_deref() == Some(&parent))
            .collect();
        if ports.len() == request.options.ports as usize {
            break ports;
        }
        if Instant::now() > deadline {
            return Err(DeviceError::Netlink(NetlinkError::NoSuchLink(format!(
                "the ports of {parent}"
            ))));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    ports.sort_by_key(|link| {
        link.attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::PhysPortName(port) => {
                    port.trim_start_matches('p').parse::<u32>().ok()
                }
                _ => None,
            })
    });
    for (port, link) in (0..).zip(&ports) {
        links
            .rename(link.header.index, &port_name(&request.name, port))
            .await?;
    }
    if request.options.vfs > 0 {
        let path = Path::new(BUS)
            .join("devices")
            .join(&parent)
            .join("sriov_numvfs");
        write(
            &path,
            &request.options.vfs.to_string(),
            &format!("enabling VFs on {parent}"),
        )?;
    }
    Ok(())
}

/// Removes netdevsim device `id` with its ports.
pub fn delete(id: u32) -> Result<(), DeviceError> {
    write(
        &Path::new(BUS).join("del_device"),
        &id.to_string(),
        &format!("deleting netdevsim{id}"),
    )
}

/// The bus ID of the netdevsim device that `link` is a port of, if it is one.
pub fn device_of(link: &LinkMessage) -> Option<u32> {
    if string_attribute(link, IFLA_PARENT_DEV_BUS_NAME).as_deref() != Some("netdevsim") {
        return None;
    }
    parent_device(link)?.strip_prefix("netdevsim")?.parse().ok()
}

fn parent_device(link: &LinkMessage) -> Option<String> {
    string_attribute(link, IFLA_PARENT_DEV_NAME)
}

/// The string value of a link attribute that netlink-packet-route leaves unparsed.
fn string_attribute(link: &LinkMessage, kind: u16) -> Option<String> {
    link.attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::Other(nla) if nla.kind() == kind => {
                let mut value = vec![0; nla.value_len()];
                nla.emit_value(&mut value);
                Some(
                    String::from_utf8_lossy(&value)
                        .trim_end_matches('\0')
                        .to_string(),
                )
            }
            _ => None,
        })
}

/// The bus appears when the driver is loaded. Asking rtnetlink for a link of kind `netdevsim`
/// makes the kernel load the `rtnl-link-netdevsim` module (the driver then refuses the link: its
/// devices are made through sysfs), so no `modprobe` is needed.
async fn load_driver(links: &Links) -> Result<(), DeviceError> {
    if Path::new(BUS).exists() {
        return Ok(());
    }
    let probe =
        LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Other("netdevsim".into()))
            .name("vswitch-probe".to_string())
            .build();
    let _refused = links.add_raw(probe).await;
    if Path::new(BUS).exists() {
        Ok(())
    } else {
        Err(DeviceError::MissingFeature {
            kind: "netdevsim",
            feature: FEATURE,
        })
    }
}

fn free_id() -> Result<u32, DeviceError> {
    let devices = PathBuf::from(BUS).join("devices");
    let taken: Vec<u32> = std::fs::read_dir(&devices)
        .map_err(NetlinkError::io(format!("listing {}", devices.display())))?
        .filter_map(|entry| {
            entry
                .ok()?
                .file_name()
                .to_str()?
                .strip_prefix("netdevsim")?
                .parse()
                .ok()
        })
        .collect();
    Ok((1..).find(|id| !taken.contains(id)).expect("a free ID"))
}

fn write(path: &Path, value: &str, what: &str) -> Result<(), DeviceError> {
    std::fs::write(path, value)
        .map_err(|error| NetlinkError::io(format!("{what} ({})", path.display()))(error).into())
}
