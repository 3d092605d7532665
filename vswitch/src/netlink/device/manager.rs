//! Creating, removing and listing devices in one network namespace.

use std::os::fd::AsRawFd as _;

use rtnetlink::LinkUnspec;

use super::{
    DeviceError, DeviceInfo, DeviceSpec, Kind, Recipe, References, Resolved, missing, netdevsim,
    tun,
};
use crate::netlink::{Created, Links, NetlinkError, netns};

/// The device manager of one network namespace.
#[derive(Clone, Debug)]
pub struct Devices {
    links: Links,
}

impl Devices {
    /// The device manager of the namespace `links` is connected to.
    pub fn new(links: Links) -> Self {
        Self { links }
    }

    /// Creates the device `spec` describes, with its common options applied; returns what to
    /// record to remove it again. A device that fails half-way is removed.
    pub async fn add(&self, spec: &DeviceSpec) -> Result<Created, DeviceError> {
        spec.validate().map_err(DeviceError::Invalid)?;
        let (name, common, kind) = spec.parts();
        let exists = if spec.is_netns() {
            netns::exists(name)
        } else {
            self.links.index(name).await?.is_some()
        };
        if exists {
            return Err(DeviceError::Exists(name.to_string()));
        }
        let mut references = kind.references();
        references.links.extend(common.master.as_deref());
        references.namespaces.extend(common.netns.as_deref());
        let resolved = self.resolve(references).await?;
        match kind.recipe(name, &resolved) {
            Recipe::Netns => {
                netns::create(name)?;
                return Ok(Created::Netns(name.to_string()));
            }
            Recipe::Link(message) => {
                self.links
                    .add_raw(*message)
                    .await
                    .map_err(|error| missing_or(&*kind, name, error))?;
            }
            Recipe::Tun(request) => tun::create(&request, kind.name())?,
            Recipe::Netdevsim(request) => {
                netdevsim::create(&request, &self.links).await?;
            }
        }
        let created = Created::Device {
            name: name.to_string(),
            netns: common.netns.clone(),
        };
        if let Err(error) = self.configure(spec, &*kind, &resolved).await {
            if let Err(cleanup) = remove(&created, &self.links).await {
                tracing::warn!("removing the half-made {name}: {cleanup}");
            }
            return Err(error);
        }
        Ok(created)
    }

    /// Removes the interface called `name` (a netdevsim port's whole device), or else the
    /// namespace called `name`.
    pub async fn delete(&self, name: &str) -> Result<(), DeviceError> {
        match self.links.by_name(name).await? {
            Some(link) => match netdevsim::device_of(&link) {
                Some(id) => netdevsim::delete(id),
                None => Ok(self.links.delete(link.header.index).await?),
            },
            None if netns::exists(name) => Ok(netns::delete(name)?),
            None => Err(DeviceError::NotFound(name.to_string())),
        }
    }

    /// Every interface of the namespace and every named namespace, as the kernel reports them.
    pub async fn show(&self) -> Result<Vec<DeviceInfo>, DeviceError> {
        let (links, addresses) = (self.links.all().await?, self.links.addresses().await?);
        let mut devices = DeviceInfo::from_links(&links, &addresses);
        devices.extend(namespaces()?.iter().map(|name| DeviceInfo::netns(name)));
        Ok(devices)
    }

    async fn resolve(&self, references: References<'_>) -> Result<Resolved, DeviceError> {
        let mut resolved = Resolved::default();
        for name in references.links {
            let index = self.links.require(name).await?;
            resolved.links.insert(name.to_string(), index);
        }
        for name in references.namespaces {
            resolved
                .namespaces
                .insert(name.to_string(), netns::open(name)?);
        }
        Ok(resolved)
    }

    /// Applies what every kind takes, in the order the kernel needs: members enslaved; MTU,
    /// MAC and master set; moved to its namespace; then addresses and up, where it ended up.
    async fn configure(
        &self,
        spec: &DeviceSpec,
        kind: &dyn Kind,
        resolved: &Resolved,
    ) -> Result<(), DeviceError> {
        let (name, common) = (spec.name(), spec.common());
        let index = self.links.require(name).await?;
        for member in kind.members() {
            let member_index = resolved.link(member);
            let what = format!("enslaving {member} to {name}");
            let steps = [
                LinkUnspec::new_with_index(member_index).down(),
                LinkUnspec::new_with_index(member_index).controller(index),
                LinkUnspec::new_with_index(member_index).up(),
            ];
            for step in steps {
                self.links.set(step.build(), &what).await?;
            }
        }
        let mut change = LinkUnspec::new_with_index(index);
        if let Some(mtu) = common.mtu {
            change = change.mtu(mtu);
        }
        if let Some(mac) = common.mac {
            change = change.address(mac.0.to_vec());
        }
        if let Some(master) = &common.master {
            change = change.controller(resolved.link(master));
        }
        if common.mtu.is_some() || common.mac.is_some() || common.master.is_some() {
            let what = format!("setting the MTU, MAC or master of {name}");
            self.links.set(change.build(), &what).await?;
        }
        let (links, index) = match &common.netns {
            Some(netns) => {
                let file = resolved.netns(netns);
                let change = LinkUnspec::new_with_index(index).setns_by_fd(file.as_raw_fd());
                self.links
                    .set(change.build(), &format!("moving {name} to netns {netns}"))
                    .await?;
                let there = Links::connect_in(netns)?;
                let index = there.require(name).await?;
                (there, index)
            }
            None => (self.links.clone(), index),
        };
        for cidr in &common.address {
            links
                .add_address(index, cidr.address, cidr.prefix_len)
                .await?;
        }
        if common.up {
            links.set_up(index).await?;
        }
        Ok(())
    }
}

/// Removes what [`Devices::add`] recorded as `created`; a device already gone is no error.
pub async fn remove(created: &Created, links: &Links) -> Result<(), DeviceError> {
    let Created::Device { name, netns } = created else {
        return Err(DeviceError::NotFound(format!("{created:?}")));
    };
    let devices = match netns {
        Some(netns) if netns::exists(netns) => Devices::new(Links::connect_in(netns)?),
        Some(_) => return Ok(()),
        None => Devices::new(links.clone()),
    };
    match devices.delete(name).await {
        Err(DeviceError::NotFound(_)) => Ok(()),
        result => result,
    }
}

/// The named network namespaces, as `ip netns list` shows them.
fn namespaces() -> Result<Vec<String>, DeviceError> {
    let entries = match std::fs::read_dir(netns::NETNS_RUN_DIR) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(
                NetlinkError::io(format!("listing {}", netns::NETNS_RUN_DIR))(error).into(),
            );
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

fn missing_or(kind: &dyn Kind, name: &str, error: rtnetlink::Error) -> DeviceError {
    if missing::means_missing(&error) {
        DeviceError::MissingFeature {
            kind: kind.name(),
            feature: kind.feature(),
        }
    } else {
        NetlinkError::Request {
            what: format!("creating {} {name}", kind.name()),
            source: error,
        }
        .into()
    }
}
