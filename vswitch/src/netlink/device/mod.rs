//! The device manager: Linux's virtual network devices, created the way `ip link` creates them,
//! over rtnetlink (tun/tap through `/dev/net/tun`, netdevsim through its sysfs bus).
//!
//! One module per kind, as rtnetlink's own `src/link/`: each is a small typed spec that says
//! which kernel feature makes it, which interfaces and namespaces it names, how it is made
//! ([`Recipe`]) and how to describe what the kernel reports about it (`describe`).

mod bond;
mod bridge;
mod common;
mod dummy;
mod ifb;
mod ipvlan;
mod macsec;
mod macvlan;
mod manager;
mod missing;
mod namespace;
mod netdevsim;
mod nlmon;
mod show;
mod spec;
mod team;
mod tun;
mod tunnel;
mod vcan;
mod veth;
mod vlan;
mod vxcan;
mod vxlan;

use std::{collections::BTreeMap, fs::File};

use netlink_packet_route::link::{InfoKind, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec};

pub use bond::{Bond, BondModeName};
pub use bridge::Bridge;
pub use common::{Cidr, Common, Mac};
pub use ipvlan::{Ipvlan, IpvlanModeName};
pub use macsec::Macsec;
pub use macvlan::{Macvlan, MacvlanModeName};
pub use manager::{Devices, remove};
pub use missing::Feature;
pub use netdevsim::Netdevsim;
pub use show::DeviceInfo;
pub use spec::{Device, DeviceSpec, NoOptions};
pub use tun::TunOptions;
pub use tunnel::{Tunnel, TunnelKind};
pub use veth::Veth;
pub use vlan::{Vlan, VlanProtocolName};
pub use vxlan::Vxlan;

use super::NetlinkError;

/// Why a device could not be created, removed or read.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// A netlink request or a system call failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// The running kernel cannot make this kind of device.
    #[error("{kind}: the running kernel has no {} ({})", feature.what, feature.config)]
    MissingFeature {
        /// The kind asked for.
        kind: &'static str,
        /// What the kernel lacks.
        feature: Feature,
    },
    /// The options are not valid (bad usage, not a runtime failure).
    #[error("{0}")]
    Invalid(String),
    /// A device or namespace of that name exists already.
    #[error("{0} already exists")]
    Exists(String),
    /// No device or namespace of that name.
    #[error("no device or netns {0}")]
    NotFound(String),
}

impl DeviceError {
    /// Whether the request was at fault (exit status 2) rather than the system (1).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }
}

/// What each kind of device knows about itself.
trait Kind {
    /// Its name, as `ip link` and the config spell it.
    fn name(&self) -> &'static str;
    /// The kernel feature that makes it.
    fn feature(&self) -> Feature;
    /// Checks the options beyond their types.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// The interfaces (in this namespace) and namespaces its options name.
    fn references(&self) -> References<'_> {
        References::default()
    }
    /// How a device called `name` of this kind is made.
    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe;
    /// Interfaces to enslave to the new device once it exists (a bond's members).
    fn members(&self) -> &[String] {
        &[]
    }
}

/// The names a spec refers to, resolved before anything is created.
#[derive(Debug, Default)]
struct References<'a> {
    links: Vec<&'a str>,
    namespaces: Vec<&'a str>,
}

impl<'a> References<'a> {
    /// References to the interfaces called `names`.
    fn links(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            links: names.into_iter().collect(),
            namespaces: Vec::new(),
        }
    }
}

/// The interfaces and namespaces of [`References`], looked up.
#[derive(Debug, Default)]
struct Resolved {
    links: BTreeMap<String, u32>,
    namespaces: BTreeMap<String, File>,
}

impl Resolved {
    /// The ifindex of `name`, which [`References`] named.
    fn link(&self, name: &str) -> u32 {
        self.links[name]
    }

    /// The namespace `name`, which [`References`] named.
    fn netns(&self, name: &str) -> &File {
        &self.namespaces[name]
    }
}

/// How a device is made.
#[derive(Debug)]
enum Recipe {
    /// An `RTM_NEWLINK` request.
    Link(Box<LinkMessage>),
    /// A persistent tun or tap device, through `/dev/net/tun`.
    Tun(tun::Request),
    /// A netdevsim device, through its sysfs bus.
    Netdevsim(netdevsim::Request),
    /// A named network namespace.
    Netns,
}

impl Recipe {
    /// An `RTM_NEWLINK` request for a kind without options: its name and kind only.
    fn plain(name: &str, kind: InfoKind) -> Self {
        let message = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(kind)
            .name(name.to_string())
            .build();
        Self::Link(Box::new(message))
    }
}

impl<K: Kind + ?Sized> Kind for &K {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn feature(&self) -> Feature {
        (**self).feature()
    }
    fn validate(&self) -> Result<(), String> {
        (**self).validate()
    }
    fn references(&self) -> References<'_> {
        (**self).references()
    }
    fn recipe(&self, name: &str, resolved: &Resolved) -> Recipe {
        (**self).recipe(name, resolved)
    }
    fn members(&self) -> &[String] {
        (**self).members()
    }
}
