//! The `CNI_*` environment variables a runtime sets for each call.

use std::{ffi::OsString, path::PathBuf};

use crate::error::{CniError, Code};

/// The operation a runtime asks for (`CNI_COMMAND`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Attach a container.
    Add,
    /// Detach it (idempotent).
    Del,
    /// Verify an attachment.
    Check,
    /// Report the spec versions this plugin speaks.
    Version,
    /// 1.1: whether the plugin can serve ADD now.
    Status,
    /// 1.1: remove attachments the runtime no longer knows.
    Gc,
}

/// Which container and interface an ADD, DEL or CHECK is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`: the interface inside the container.
    pub ifname: String,
    /// `CNI_NETNS`: the container's network namespace (may be absent on DEL).
    pub netns: Option<PathBuf>,
}

/// Everything a call reads from its environment.
#[derive(Clone, Debug)]
pub struct Environment {
    /// `CNI_COMMAND`.
    pub operation: Operation,
    /// The attachment, for ADD, DEL and CHECK.
    pub attachment: Option<Attachment>,
    /// `CNI_PATH`: where delegate plugins (IPAM) are looked up.
    pub path: Vec<PathBuf>,
}

impl Environment {
    /// Reads the process's environment.
    pub fn from_process() -> Result<Self, CniError> {
        Self::read(|name| std::env::var_os(name))
    }

    /// Reads the variables through `get` (the process's environment, or a test's).
    pub fn read(get: impl Fn(&str) -> Option<OsString>) -> Result<Self, CniError> {
        let text = |name: &str| -> Result<Option<String>, CniError> {
            get(name)
                .filter(|value| !value.is_empty())
                .map(|value| {
                    value.into_string().map_err(|_| {
                        CniError::new(Code::InvalidEnvironment, format!("{name} is not UTF-8"))
                    })
                })
                .transpose()
        };
        let required = |name: &str| -> Result<String, CniError> {
            text(name)?.ok_or_else(|| {
                CniError::new(Code::InvalidEnvironment, format!("{name} is not set"))
            })
        };
        let operation = match required("CNI_COMMAND")?.as_str() {
            "ADD" => Operation::Add,
            "DEL" => Operation::Del,
            "CHECK" => Operation::Check,
            "VERSION" => Operation::Version,
            "STATUS" => Operation::Status,
            "GC" => Operation::Gc,
            other => {
                return Err(CniError::new(
                    Code::InvalidEnvironment,
                    format!(
                        "CNI_COMMAND {other} is not one of ADD, DEL, CHECK, VERSION, STATUS, GC"
                    ),
                ));
            }
        };
        let attachment = match operation {
            Operation::Add | Operation::Del | Operation::Check => {
                let container_id = required("CNI_CONTAINERID")?;
                check_container_id(&container_id)?;
                let ifname = required("CNI_IFNAME")?;
                check_ifname(&ifname)?;
                let netns = text("CNI_NETNS")?.map(PathBuf::from);
                if netns.is_none() && operation != Operation::Del {
                    return Err(CniError::new(
                        Code::InvalidEnvironment,
                        "CNI_NETNS is not set",
                    ));
                }
                Some(Attachment {
                    container_id,
                    ifname,
                    netns,
                })
            }
            Operation::Version | Operation::Status | Operation::Gc => None,
        };
        let path = get("CNI_PATH")
            .map(|value| std::env::split_paths(&value).collect())
            .unwrap_or_default();
        Ok(Self {
            operation,
            attachment,
            path,
        })
    }
}

/// A container ID is alphanumeric first, then alphanumerics, `_`, `.` and `-`.
fn check_container_id(id: &str) -> Result<(), CniError> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        Ok(())
    } else {
        Err(CniError::new(
            Code::InvalidEnvironment,
            format!(
                "CNI_CONTAINERID {id:?} must start with a letter or digit, followed by letters, digits, _ . -"
            ),
        ))
    }
}

/// An interface name: 1 to 15 bytes, not `.` or `..`, no `/`, `:` or whitespace.
fn check_ifname(name: &str) -> Result<(), CniError> {
    let valid = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if valid {
        Ok(())
    } else {
        Err(CniError::new(
            Code::InvalidEnvironment,
            format!(
                "CNI_IFNAME {name:?} is not a valid interface name (1-15 bytes, no / : or spaces)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<Environment, CniError> {
        let vars: HashMap<String, OsString> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), OsString::from(value)))
            .collect();
        Environment::read(|name| vars.get(name).cloned())
    }

    #[test]
    fn add_needs_container_ifname_and_netns() {
        let full = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", "/run/netns/c1"),
            ("CNI_PATH", "/usr/lib/cni:/opt/cni/bin"),
        ];
        let env = read(&full).expect("complete");
        assert_eq!(env.operation, Operation::Add);
        assert_eq!(env.path.len(), 2);
        for missing in ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"] {
            let vars: Vec<_> = full
                .iter()
                .copied()
                .filter(|(name, _)| *name != missing)
                .collect();
            let error = read(&vars).expect_err(missing);
            assert_eq!(error.code, Code::InvalidEnvironment as u32);
            assert!(error.message.contains(missing), "{}", error.message);
        }
    }

    #[test]
    fn del_without_netns_is_fine() {
        let env = read(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
        ])
        .expect("DEL may lack CNI_NETNS");
        assert_eq!(env.attachment.expect("an attachment").netns, None);
    }

    #[test]
    fn bad_values_are_code_4() {
        for vars in [
            &[("CNI_COMMAND", "FROB")][..],
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "-bad"),
                ("CNI_IFNAME", "eth0"),
            ],
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_IFNAME", "a/b"),
            ],
            &[
                ("CNI_COMMAND", "DEL"),
                ("CNI_CONTAINERID", "c1"),
                ("CNI_IFNAME", "sixteen-bytes-xx"),
            ],
        ] {
            let error = read(vars).expect_err("refused");
            assert_eq!(error.code, Code::InvalidEnvironment as u32, "{vars:?}");
        }
    }
}
