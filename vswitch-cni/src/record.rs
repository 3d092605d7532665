//! What the plugin remembers of each attachment: a small JSON file per attachment under
//! `DATA_DIR/NETWORK/`, keyed as the spec asks by (network, container ID, interface), which GC
//! lists to find attachments the runtime no longer knows.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CniError, Code};

/// One attachment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// The switch instance the port is on.
    pub switch: String,
    /// The host end of the veth, the switch's port.
    pub port: String,
}

/// The host end's name for an attachment: `vc` and 13 hex digits of a hash of the network, the
/// container and the interface, stable across calls and builds (FNV-1a), 15 bytes.
pub fn port_name(network: &str, container_id: &str, ifname: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in [network, container_id, ifname].join("\0").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("vc{:013x}", hash >> 12)
}

/// The records of one network.
#[derive(Clone, Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// The records of `network` under `data_dir`.
    pub fn new(data_dir: &Path, network: &str) -> Self {
        Self {
            dir: data_dir.join(network),
        }
    }

    fn file(&self, port: &str) -> PathBuf {
        self.dir.join(format!("{port}.json"))
    }

    /// Stores `record`.
    pub fn save(&self, record: &Record) -> Result<(), CniError> {
        let io = |error: std::io::Error| {
            CniError::caused(
                Code::Io,
                format!("writing a record under {}", self.dir.display()),
                &error,
            )
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let text = serde_json::to_vec(record).expect("a record serializes");
        std::fs::write(self.file(&record.port), text).map_err(io)
    }

    /// Forgets the attachment of `port` (nothing to do if there is no record).
    pub fn remove(&self, port: &str) -> Result<(), CniError> {
        match std::fs::remove_file(self.file(port)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(CniError::caused(
                Code::Io,
                format!("removing the record of {port}"),
                &error,
            )),
            _ => Ok(()),
        }
    }

    /// Every record of the network; unreadable files are skipped.
    pub fn all(&self) -> Result<Vec<Record>, CniError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(CniError::caused(
                    Code::Io,
                    format!("listing {}", self.dir.display()),
                    &error,
                ));
            }
        };
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read(entry.path()).ok())
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_are_stable_short_and_distinct() {
        let name = port_name("vsnet", "c1", "eth0");
        assert_eq!(name.len(), 15);
        assert_eq!(name, port_name("vsnet", "c1", "eth0"));
        assert_ne!(name, port_name("vsnet", "c1", "eth1"));
        assert_ne!(name, port_name("other", "c1", "eth0"));
        // Fixed: a name must not change between builds (DEL finds the port by it).
        assert_eq!(
            port_name("", "", ""),
            format!("vc{:013x}", 0x0832_8807_b4eb_6fed_u64 >> 12)
        );
    }
}
