//! Delegating address management to an IPAM plugin (such as `host-local`), as a runtime calls
//! a plugin: the same config on stdin, `CNI_*` in the environment.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde::Deserialize;

use crate::{
    config::NetConf,
    env::Attachment,
    error::{CniError, Code},
    result::CniResult,
};

/// The spec version older delegates speak (Debian 12's `host-local` knows no 1.1.0; a 1.0.0
/// IPAM result is the same shape).
const FALLBACK_VERSION: &str = "1.0.0";

/// An IPAM plugin found in `CNI_PATH`.
#[derive(Clone, Debug)]
pub struct Delegate {
    binary: PathBuf,
    path: Vec<PathBuf>,
}

/// What a delegate prints on failure.
#[derive(Deserialize)]
struct DelegateError {
    code: u32,
    msg: String,
    details: Option<String>,
}

impl Delegate {
    /// Finds `plugin` in `path` (`CNI_PATH`).
    pub fn find(plugin: &str, path: &[PathBuf]) -> Result<Self, CniError> {
        path.iter()
            .map(|dir| dir.join(plugin))
            .find(|candidate| candidate.is_file())
            .map(|binary| Self {
                binary,
                path: path.to_vec(),
            })
            .ok_or_else(|| {
                CniError::new(
                    Code::InvalidConfig,
                    format!(
                        "IPAM plugin {plugin} not found in CNI_PATH ({}); Debian's containernetworking-plugins installs host-local in /usr/lib/cni",
                        std::env::join_paths(path).map_or_else(|_| "?".into(), |p| p.to_string_lossy().into_owned())
                    ),
                )
            })
    }

    /// ADD: allocates addresses for `attachment`.
    pub fn add(&self, config: &NetConf, attachment: &Attachment) -> Result<CniResult, CniError> {
        let stdout = self.call("ADD", config, attachment)?;
        serde_json::from_slice(&stdout).map_err(|error| {
            CniError::caused(
                Code::Decode,
                format!("{} returned an unreadable result", self.name()),
                &error,
            )
        })
    }

    /// DEL: releases `attachment`'s addresses (idempotent in the delegate).
    pub fn del(&self, config: &NetConf, attachment: &Attachment) -> Result<(), CniError> {
        self.call("DEL", config, attachment).map(drop)
    }

    /// CHECK: verifies `attachment`'s allocation.
    pub fn check(&self, config: &NetConf, attachment: &Attachment) -> Result<(), CniError> {
        self.call("CHECK", config, attachment).map(drop)
    }

    fn name(&self) -> String {
        self.binary
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
    }

    /// Runs the delegate with the config's version, and once more with [`FALLBACK_VERSION`] if
    /// it does not speak that version.
    fn call(
        &self,
        command: &str,
        config: &NetConf,
        attachment: &Attachment,
    ) -> Result<Vec<u8>, CniError> {
        match self.run(command, &config.raw, attachment) {
            Err(error)
                if error.code == Code::IncompatibleVersion as u32
                    && config.cni_version != FALLBACK_VERSION =>
            {
                let mut raw = config.raw.clone();
                raw["cniVersion"] = FALLBACK_VERSION.into();
                self.run(command, &raw, attachment)
            }
            other => other,
        }
    }

    fn run(
        &self,
        command: &str,
        raw: &serde_json::Value,
        attachment: &Attachment,
    ) -> Result<Vec<u8>, CniError> {
        let name = self.name();
        let io = |error: std::io::Error| {
            CniError::caused(Code::Io, format!("running the IPAM plugin {name}"), &error)
        };
        let mut child = Command::new(&self.binary)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &attachment.container_id)
            .env("CNI_IFNAME", &attachment.ifname)
            .env(
                "CNI_NETNS",
                attachment.netns.as_deref().unwrap_or(Path::new("")),
            )
            .env(
                "CNI_PATH",
                std::env::join_paths(&self.path).unwrap_or_default(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io)?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(raw.to_string().as_bytes()).map_err(io)?;
        drop(stdin);
        let output = child.wait_with_output().map_err(io)?;
        if output.status.success() {
            return Ok(output.stdout);
        }
        match serde_json::from_slice::<DelegateError>(&output.stdout) {
            Ok(error) => Err(CniError::delegated(
                error.code,
                format!("{name}: {}", error.msg),
                error.details,
            )),
            Err(_) => Err(CniError::new(
                Code::Failed,
                format!(
                    "{name} {command} failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            )),
        }
    }
}
