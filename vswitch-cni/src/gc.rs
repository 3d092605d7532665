//! GC (spec 1.1): removes the attachments of this network that `cni.dev/valid-attachments`
//! does not list.

use std::path::PathBuf;

use crate::{
    config::NetConf,
    del::release,
    env::Attachment,
    error::{CniError, Code},
    record::Records,
};

/// Releases every recorded attachment the runtime no longer knows; goes on past failures and
/// reports the first.
pub async fn gc(config: &NetConf, cni_path: &[PathBuf]) -> Result<(), CniError> {
    let valid = config.valid_attachments.as_ref().ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            "GC needs \"cni.dev/valid-attachments\" in the network config",
        )
    })?;
    let mut first_error = None;
    for record in Records::new(&config.data_dir, &config.name).all()? {
        let known = valid.iter().any(|attachment| {
            attachment.container_id == record.container_id && attachment.ifname == record.ifname
        });
        if known {
            continue;
        }
        let attachment = Attachment {
            container_id: record.container_id.clone(),
            ifname: record.ifname.clone(),
            netns: None,
        };
        // The record knows which switch the port is on, whatever the config says now.
        let mut config = config.clone();
        config.switch = record.switch.clone();
        if let Err(error) = release(&config, &attachment, &record.port, cni_path).await {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}
