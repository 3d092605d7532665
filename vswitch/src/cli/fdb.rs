//! `vswitch fdb show [--json]`, `fdb add MAC [--vlan N] (--port PORT | --remote IP --vni N)`,
//! `fdb add --file FILE` and `fdb del MAC [--vlan N]`.

use std::{net::IpAddr, path::PathBuf};

use serde_json::json;
use vswitch::{
    agent::{expired, monotonic_ns, vtep_address},
    control::{self, FdbTarget},
};

use super::{
    EXIT_USAGE, Failure, fdb_file,
    format::{Instance, json, mac, table},
    send,
    stats::tunnel_name,
};

/// `fdb` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the MAC table.
    Show {
        /// Print JSON instead of a table.
        #[arg(long, short)]
        json: bool,
    },
    /// Add a static entry, towards a local port or a remote VTEP (VXLAN); or many, from a file.
    Add(AddArgs),
    /// Remove a static entry.
    Del {
        /// The MAC address.
        mac: String,
        /// Its VLAN.
        #[arg(long)]
        vlan: Option<u16>,
    },
}

/// Arguments of `fdb add`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["port", "remote", "file"])))]
pub struct AddArgs {
    /// The MAC address.
    #[arg(required_unless_present = "file")]
    pub mac: Option<String>,
    /// Add the entries of FILE instead: one `MAC VLAN PORT` a line, `#` comments; every line
    /// is checked before any entry is written.
    #[arg(long, conflicts_with_all = ["mac", "vlan"])]
    pub file: Option<PathBuf>,
    /// Its VLAN.
    #[arg(long)]
    pub vlan: Option<u16>,
    /// Send frames for the address to this local port.
    #[arg(long)]
    pub port: Option<String>,
    /// Send frames for the address to this remote VTEP.
    #[arg(long, requires = "vni")]
    pub remote: Option<IpAddr>,
    /// The VXLAN network identifier towards the remote VTEP.
    #[arg(long, requires = "remote", conflicts_with = "port")]
    pub vni: Option<u32>,
}

impl AddArgs {
    fn into_command(self) -> Result<control::Command, Failure> {
        let mac = self.mac.unwrap_or_default();
        let target = match (self.port, self.remote.zip(self.vni)) {
            (Some(name), None) => FdbTarget::Port { name },
            (None, Some((ip, vni))) => FdbTarget::Remote { ip, vni },
            _ => {
                return Err(Failure {
                    error: anyhow::anyhow!("give either --port PORT or --remote IP --vni N"),
                    code: EXIT_USAGE,
                });
            }
        };
        Ok(control::Command::FdbAdd {
            mac,
            vlan: self.vlan,
            target,
        })
    }
}

/// Runs an `fdb` subcommand against instance `name`.
pub async fn run(name: &str, command: Command) -> Result<(), Failure> {
    match command {
        Command::Show { json: as_json } => show(name, as_json),
        Command::Add(AddArgs {
            file: Some(file), ..
        }) => fdb_file::add(name, &file).await,
        Command::Add(args) => send(name, args.into_command()?).await,
        Command::Del { mac, vlan } => send(name, control::Command::FdbDel { mac, vlan }).await,
    }
}

fn show(name: &str, as_json: bool) -> Result<(), Failure> {
    let instance = Instance::open(name)?;
    let ports = instance.port_names();
    let tunnels: std::collections::HashMap<u16, u32> = instance
        .state
        .tunnels
        .iter()
        .map(|tunnel| (tunnel.vlan, tunnel.vni))
        .collect();
    let ageing_ns = instance.maps.switch.get(&0, 0)?.ageing_ns;
    let now_ns = monotonic_ns();
    let mut entries: Vec<_> = instance
        .maps
        .fdb_entries()?
        .into_iter()
        .filter(|(_, entry)| !expired(entry, now_ns, ageing_ns))
        .collect();
    entries.sort_by_key(|(key, _)| (key.vlan, key.mac));
    let rows: Vec<serde_json::Value> = entries
        .iter()
        .map(|(key, entry)| {
            let vni = tunnels.get(&key.vlan).filter(|_| entry.is_remote());
            let port = match vni {
                Some(vni) => tunnel_name(*vni),
                None => ports
                    .get(&entry.ifindex)
                    .map_or_else(|| entry.ifindex.to_string(), |port| port.name.clone()),
            };
            let age = (!entry.is_static()).then(|| entry.age_ns(now_ns) / 1_000_000_000);
            let mut row = json!({
                "mac": mac(&key.mac),
                "vlan": key.vlan,
                "port": port,
                "static": entry.is_static(),
                "age_secs": age,
            });
            if let (Some(vni), Some(fields)) = (vni, row.as_object_mut()) {
                let remote = vtep_address(&entry.remote).to_string();
                fields.insert("remote".to_string(), remote.into());
                fields.insert("vni".to_string(), (*vni).into());
            }
            row
        })
        .collect();
    if as_json {
        json(&serde_json::Value::Array(rows));
        return Ok(());
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                row["mac"].as_str().unwrap_or_default().to_string(),
                row["vlan"].to_string(),
                row["port"].as_str().unwrap_or_default().to_string(),
                if row["static"] == true {
                    "static"
                } else {
                    "learned"
                }
                .to_string(),
                row["age_secs"]
                    .as_u64()
                    .map_or_else(|| "-".to_string(), |age| format!("{age}s")),
                row["remote"].as_str().unwrap_or("-").to_string(),
            ]
        })
        .collect();
    table(&["MAC", "VLAN", "PORT", "TYPE", "AGE", "REMOTE"], &cells);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command as Top};

    fn add(args: &str) -> control::Command {
        let cli = Cli::try_parse_from(format!("vswitch fdb add {args}").split_whitespace())
            .unwrap_or_else(|error| panic!("{args}: {error}"));
        match cli.command {
            Top::Fdb {
                command: Command::Add(add),
            } => add
                .into_command()
                .unwrap_or_else(|failure| panic!("{args}: {:#}", failure.error)),
            other => panic!("{args}: parsed as {other:?}"),
        }
    }

    #[test]
    fn add_targets_a_port_or_a_remote_vtep() {
        assert_eq!(
            add("02:00:00:00:00:01 --vlan 10 --port vp1"),
            control::Command::FdbAdd {
                mac: "02:00:00:00:00:01".into(),
                vlan: Some(10),
                target: FdbTarget::Port { name: "vp1".into() },
            }
        );
        assert_eq!(
            add("02:00:00:00:00:02 --remote 192.0.2.2 --vni 100"),
            control::Command::FdbAdd {
                mac: "02:00:00:00:00:02".into(),
                vlan: None,
                target: FdbTarget::Remote {
                    ip: "192.0.2.2".parse().expect("an address"),
                    vni: 100,
                },
            }
        );
    }

    #[test]
    fn add_needs_exactly_one_target() {
        for args in [
            "02:00:00:00:00:01",
            "02:00:00:00:00:01 --port vp1 --remote 192.0.2.2 --vni 100",
            "02:00:00:00:00:01 --remote 192.0.2.2",
            "02:00:00:00:00:01 --port vp1 --vni 100",
        ] {
            let error = Cli::try_parse_from(format!("vswitch fdb add {args}").split_whitespace())
                .expect_err(args);
            assert_eq!(error.exit_code(), 2, "{args}: {error}");
        }
    }
}
