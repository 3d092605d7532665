//! The spec versions this plugin speaks, and the VERSION answer.

use serde::Serialize;

use crate::error::{CniError, Code};

/// Spec versions whose configs and results this plugin handles (the result shape is the same).
pub const SUPPORTED: &[&str] = &["1.0.0", "1.1.0"];

/// The newest of [`SUPPORTED`], used where no config says which.
pub const NEWEST: &str = "1.1.0";

/// Refuses a config of a version not in [`SUPPORTED`] with code 1.
pub fn require_supported(version: &str) -> Result<(), CniError> {
    if SUPPORTED.contains(&version) {
        Ok(())
    } else {
        Err(CniError::new(
            Code::IncompatibleVersion,
            format!(
                "incompatible CNI version {version}: vswitch-cni supports {}",
                SUPPORTED.join(", ")
            ),
        ))
    }
}

/// The VERSION answer.
#[derive(Debug, Serialize)]
pub struct VersionInfo {
    /// The version this answer is written in.
    #[serde(rename = "cniVersion")]
    pub cni_version: &'static str,
    /// [`SUPPORTED`].
    #[serde(rename = "supportedVersions")]
    pub supported_versions: &'static [&'static str],
}

/// What VERSION prints: stdin may carry `{"cniVersion": ...}`, which does not change the list.
pub fn info() -> VersionInfo {
    VersionInfo {
        cni_version: NEWEST,
        supported_versions: SUPPORTED,
    }
}
