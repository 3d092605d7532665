//! The config's `[[device]]` devices: made before the ports, in file order, and removed at a
//! normal stop if the agent made them (a device that was there already is used as it is).

use super::AgentError;
use crate::netlink::{
    Created, Journal, Links,
    device::{DeviceError, DeviceSpec, Devices},
};

/// The `[[device]]` devices of the running config.
#[derive(Debug, Default)]
pub(super) struct ConfigDevices {
    specs: Vec<DeviceSpec>,
    created: Journal,
}

impl ConfigDevices {
    /// Makes the devices `specs` describe that do not exist yet. Those that `previous` (the
    /// record of the previous agent of the instance) says it made stay the agent's to remove;
    /// those it made that the config no longer has are removed. On failure, what was made is
    /// removed again.
    pub(super) async fn create(
        specs: &[DeviceSpec],
        previous: Vec<Created>,
        links: &Links,
    ) -> Result<Self, AgentError> {
        let devices = Devices::new(links.clone());
        let mut made = Self {
            specs: specs.to_vec(),
            created: Journal::default(),
        };
        let (mut kept, mut stale): (Vec<Created>, Vec<Created>) = previous
            .into_iter()
            .partition(|created| specs.iter().any(|spec| names(created) == spec.name()));
        for spec in specs {
            match devices.add(spec).await {
                Ok(created) => {
                    log::info!("device {}: created ({})", spec.name(), spec.kind_name());
                    // The previous agent's device of that name is gone: this one replaces it.
                    kept.retain(|previous| names(previous) != spec.name());
                    made.created.record(created);
                }
                Err(DeviceError::Exists(_)) => {
                    match kept
                        .iter()
                        .position(|created| names(created) == spec.name())
                    {
                        Some(position) => made.created.record(kept.remove(position)),
                        None => log::info!(
                            "device {}: exists already; used as it is and left at stop",
                            spec.name()
                        ),
                    }
                }
                Err(error) => {
                    made.remove(links).await;
                    return Err(error.into());
                }
            }
        }
        stale.append(&mut kept);
        for error in Journal::from(stale).undo(links).await {
            log::warn!("removing a device the config no longer has: {error}");
        }
        Ok(made)
    }

    /// The specs of the running config.
    pub(super) fn specs(&self) -> &[DeviceSpec] {
        &self.specs
    }

    /// What the agent made, oldest first.
    pub(super) fn created(&self) -> &[Created] {
        self.created.entries()
    }

    /// Removes what the agent made, newest first.
    pub(super) async fn remove(&mut self, links: &Links) {
        for error in self.created.undo(links).await {
            log::warn!("removing a device: {error}");
        }
    }
}

/// The name of a device or namespace the agent made.
fn names(created: &Created) -> &str {
    match created {
        Created::Netns(name) | Created::Link(name) | Created::Device { name, .. } => name,
    }
}
