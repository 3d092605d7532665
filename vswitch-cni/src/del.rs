//! DEL: idempotent; whatever is already gone (the port, the veth, the namespace, the switch)
//! is fine.

use std::path::PathBuf;

use crate::{
    config::NetConf,
    env::Attachment,
    error::CniError,
    ipam::Delegate,
    record::{Records, port_name},
    switch,
};

/// Detaches the container and releases its addresses.
pub async fn del(
    config: &NetConf,
    attachment: &Attachment,
    cni_path: &[PathBuf],
) -> Result<(), CniError> {
    let port = port_name(&config.name, &attachment.container_id, &attachment.ifname);
    release(config, attachment, &port, cni_path).await
}

/// What DEL and GC do for one attachment: the port out of the switch, the veth deleted, the
/// addresses released, the record removed.
pub async fn release(
    config: &NetConf,
    attachment: &Attachment,
    port: &str,
    cni_path: &[PathBuf],
) -> Result<(), CniError> {
    switch::remove_port(&config.switch, port).await?;
    if let Some(ipam) = &config.ipam {
        Delegate::find(&ipam.plugin, cni_path)?.del(config, attachment)?;
    }
    Records::new(&config.data_dir, &config.name).remove(port)
}
