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
    pub cni_version: String,
    /// [`SUPPORTED`].
    #[serde(rename = "supportedVersions")]
    pub supported_versions: &'static [&'static str],
}

/// What VERSION prints: in the version stdin asks in (`{"cniVersion": ...}`) if this plugin
/// speaks it, in [`NEWEST`] otherwise.
pub fn info(stdin: &[u8]) -> VersionInfo {
    VersionInfo {
        cni_version: answer_version(stdin),
        supported_versions: SUPPORTED,
    }
}

/// The version to answer `stdin` in (a result, an error, the version list): the one it names
/// if this plugin speaks it, [`NEWEST`] otherwise.
pub fn answer_version(stdin: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|value| value.get("cniVersion")?.as_str().map(str::to_string))
        .filter(|version| SUPPORTED.contains(&version.as_str()))
        .unwrap_or_else(|| NEWEST.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_the_version_asked_if_spoken() {
        assert_eq!(info(br#"{"cniVersion":"1.0.0"}"#).cni_version, "1.0.0");
        assert_eq!(info(br#"{"cniVersion":"0.4.0"}"#).cni_version, NEWEST);
        assert_eq!(info(b"").cni_version, NEWEST);
        assert_eq!(info(b"").supported_versions, ["1.0.0", "1.1.0"]);
    }
}
