//! The container's network namespace, as the runtime names it in `CNI_NETNS`.

use std::{fs::File, path::Path};

use vswitch::netlink::Links;

use crate::error::{CniError, Code};

/// The open namespace and a netlink connection into it.
pub struct ContainerNetns {
    /// The namespace file.
    pub file: File,
    /// Netlink inside it.
    pub links: Links,
}

impl ContainerNetns {
    /// Opens `path`; a namespace that does not exist is code 3 (the container is gone).
    pub fn open(path: &Path) -> Result<Self, CniError> {
        let file = File::open(path).map_err(|error| {
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                Code::UnknownContainer
            } else {
                Code::Io
            };
            CniError::caused(
                code,
                format!("cannot open the container's netns {}", path.display()),
                &error,
            )
        })?;
        let links = Links::connect_in_file(&file, &format!("netns {}", path.display()))?;
        Ok(Self { file, links })
    }
}
