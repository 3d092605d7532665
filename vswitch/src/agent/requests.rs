//! Serving the control socket: each request becomes one change of the running switch, and
//! its outcome an answer with the CLI's exit code.

use std::path::Path;

use serde::Serialize;
use vswitch_common::mac;

use super::{AgentError, Switch};
use crate::{
    config::{Config, ConfigError, PortSpec},
    control::{Command, CommandFailure, FdbFileChunk, FdbLine, FdbTarget, PortAdd},
};

/// Where `port add` requests say they come from in the config rules' messages.
const PORT_ADD: &str = "port add";

impl Switch {
    /// Applies one control request; `config_path` is the file `reload` re-reads.
    pub(super) async fn serve(
        &mut self,
        command: &Command,
        config_path: Option<&Path>,
    ) -> Result<Option<String>, CommandFailure> {
        match command {
            Command::PortAdd(request) => {
                let spec = port_spec(request).map_err(CommandFailure::usage)?;
                let name = spec.name.clone();
                self.add_port(spec).await.map_err(failure)?;
                Ok(Some(format!("port {name} added")))
            }
            Command::PortDel { name } => {
                self.remove_port(name).await.map_err(failure)?;
                Ok(Some(format!("port {name} removed")))
            }
            Command::FdbAdd { mac, vlan, target } => {
                let address = parse_mac(mac)?;
                match target {
                    FdbTarget::Port { name } => {
                        self.add_static_fdb(address, *vlan, name).map_err(failure)?;
                        Ok(Some(format!("static entry {mac} → port {name}")))
                    }
                    FdbTarget::Remote { ip, vni } => {
                        self.add_remote_fdb(address, *vlan, *ip, *vni)
                            .await
                            .map_err(failure)?;
                        Ok(Some(format!("static entry {mac} → VTEP {ip} (VNI {vni})")))
                    }
                }
            }
            Command::FdbAddFile(chunk) => self.add_fdb_file(chunk).map(Some),
            Command::FdbDel { mac, vlan } => {
                let removed = self.remove_fdb(parse_mac(mac)?, *vlan).map_err(failure)?;
                Ok(Some(format!("removed {removed} FDB entries")))
            }
            Command::Reload => self
                .reload_file(config_path)
                .await
                .map(Some)
                .map_err(failure),
        }
    }
}

impl Switch {
    /// Checks every entry of an FDB file's chunk, then (unless only checking) writes them all
    /// in batches; a refusal names the file and line.
    fn add_fdb_file(&mut self, chunk: &FdbFileChunk) -> Result<String, CommandFailure> {
        let mut entries = Vec::with_capacity(chunk.entries.len());
        for FdbLine(line, mac, vlan, port) in &chunk.entries {
            let at =
                |reason: String| CommandFailure::usage(format!("{}:{line}: {reason}", chunk.file));
            let address = parse_mac(mac).map_err(|failure| at(failure.message))?;
            let entry = self
                .static_fdb_entry(address, Some(*vlan), port)
                .map_err(|error| at(error.to_string()))?;
            entries.push(entry);
        }
        if chunk.check_only {
            return Ok(format!("{} entries checked", entries.len()));
        }
        self.maps
            .add_static_fdb(&entries)
            .map_err(|error| failure(error.into()))?;
        Ok(format!("{} static entries added", entries.len()))
    }
}

/// The exit code an agent error travels back with: 2 for the request's fault, 1 otherwise.
fn failure(error: AgentError) -> CommandFailure {
    let message = error.to_string();
    if error.is_bad_input() {
        CommandFailure::usage(message)
    } else {
        CommandFailure::runtime(message)
    }
}

fn parse_mac(text: &str) -> Result<mac::MacAddr, CommandFailure> {
    mac::parse(text).ok_or_else(|| {
        CommandFailure::usage(format!("{text:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"))
    })
}

/// A `[[port]]` table with the request's fields, in the config file's keys.
#[derive(Serialize)]
struct PortTable<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    netns: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    address: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trunk: Option<&'a [u16]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    native_vlan: Option<u16>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    existing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    hook: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    redirect_peer: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_macs: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flood_pps: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    locked: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    allowed_macs: &'a [String],
}

/// A file holding one `[[port]]` table.
#[derive(Serialize)]
struct OnePort<'a> {
    port: [PortTable<'a>; 1],
}

/// The port a `port add` request describes, checked by exactly the rules of a config file's
/// `[[port]]` table (the request is written as one and validated); the reason when refused.
fn port_spec(request: &PortAdd) -> Result<PortSpec, String> {
    let table = PortTable {
        name: &request.name,
        netns: request.netns.as_deref(),
        address: &request.addresses,
        vlan: request.vlan,
        trunk: request.trunk.as_deref(),
        native_vlan: request.native_vlan,
        existing: request.existing,
        hook: request.hook.as_deref(),
        mtu: request.mtu,
        redirect_peer: request.redirect_peer,
        max_macs: request.max_macs,
        flood_pps: request.flood_pps,
        locked: request.locked,
        allowed_macs: &request.allowed_macs,
    };
    let text = toml::to_string(&OnePort { port: [table] })
        .map_err(|error| format!("encoding the request: {error}"))?;
    let config = Config::parse(Path::new(PORT_ADD), &text).map_err(|error| match error {
        ConfigError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    })?;
    config
        .ports
        .into_iter()
        .next()
        .ok_or_else(|| "the request describes no port".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Hook, PortKind, VlanMode};

    #[test]
    fn a_request_becomes_the_port_its_table_would_configure() {
        let spec = port_spec(&PortAdd {
            name: "vp4".into(),
            netns: Some("h4".into()),
            addresses: vec!["10.0.0.4/24".into()],
            trunk: Some(vec![20, 10]),
            native_vlan: Some(1),
            mtu: Some(9000),
            ..PortAdd::default()
        })
        .unwrap();
        assert_eq!(spec.name, "vp4");
        assert_eq!(spec.mtu, Some(9000));
        assert_eq!(spec.hook, Hook::Tc);
        assert!(
            matches!(spec.kind, PortKind::Veth { ref netns, ref addresses }
            if netns == "h4" && addresses.len() == 1)
        );
        assert_eq!(
            spec.vlan,
            VlanMode::Trunk {
                vlans: vec![10, 20],
                native: Some(1)
            }
        );
    }

    #[test]
    fn a_request_is_refused_with_the_config_rules_reason() {
        let refused = |request: PortAdd| port_spec(&request).unwrap_err();
        assert_eq!(
            refused(PortAdd {
                name: "vp4".into(),
                netns: Some("h4".into()),
                vlan: Some(5000),
                ..PortAdd::default()
            }),
            "a VLAN ID must be from 1 to 4094"
        );
        assert!(
            refused(PortAdd {
                name: "vp4".into(),
                ..PortAdd::default()
            })
            .contains("needs `netns")
        );
        assert!(
            refused(PortAdd {
                name: "vp4".into(),
                netns: Some("h4".into()),
                addresses: vec!["10.0.0.300/24".into()],
                ..PortAdd::default()
            })
            .contains("10.0.0.300")
        );
        assert_eq!(
            refused(PortAdd {
                name: "vp4".into(),
                netns: Some("h4".into()),
                mtu: Some(65536),
                ..PortAdd::default()
            }),
            "mtu must be from 68 to 65535"
        );
    }
}
