//! What the switch created, so that a failed setup or a shutdown removes exactly that.

use super::{
    Links,
    device::{self, DeviceError},
    netns,
};

/// One thing the switch created.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Created {
    /// A named network namespace.
    Netns(String),
    /// An interface in the switch's namespace, by name.
    Link(String),
    /// A device of the device manager (`[[device]]`), in `netns` if it was moved there.
    Device {
        /// The interface's name.
        name: String,
        /// The namespace it was moved to.
        netns: Option<String>,
    },
}

/// The things created so far, undone in reverse order.
#[derive(Debug, Default)]
pub struct Journal {
    entries: Vec<Created>,
}

impl From<Vec<Created>> for Journal {
    /// A journal of things recorded earlier, e.g. by a previous agent.
    fn from(entries: Vec<Created>) -> Self {
        Self { entries }
    }
}

impl Journal {
    /// Records that `created` now exists.
    pub fn record(&mut self, created: Created) {
        self.entries.push(created);
    }

    /// What is recorded, oldest first.
    pub fn entries(&self) -> &[Created] {
        &self.entries
    }

    /// Removes everything recorded, newest first. Carries on past failures and returns them.
    pub async fn undo(&mut self, links: &Links) -> Vec<DeviceError> {
        let mut errors = Vec::new();
        while let Some(created) = self.entries.pop() {
            let result = match &created {
                Created::Netns(name) => netns::delete(name).map_err(DeviceError::from),
                Created::Link(name) => match links.index(name).await {
                    Ok(Some(index)) => links.delete(index).await.map_err(DeviceError::from),
                    // Gone already, e.g. with its peer's namespace.
                    Ok(None) => Ok(()),
                    Err(error) => Err(error.into()),
                },
                Created::Device { .. } => device::remove(&created, links).await,
            };
            if let Err(error) = result {
                errors.push(error);
            }
        }
        errors
    }
}
