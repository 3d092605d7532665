//! STATUS (spec 1.1): whether an ADD could succeed now.

use std::path::PathBuf;

use crate::{
    config::NetConf,
    error::{CniError, Code},
    ipam::Delegate,
    switch,
};

/// Succeeds when the switch runs and the IPAM plugin is installed; code 50 otherwise.
pub fn status(config: &NetConf, cni_path: &[PathBuf]) -> Result<(), CniError> {
    switch::running(&config.switch, Code::NotAvailable)?;
    if let Some(ipam) = &config.ipam {
        Delegate::find(&ipam.plugin, cni_path)
            .map_err(|error| CniError::new(Code::NotAvailable, error.message))?;
    }
    Ok(())
}
