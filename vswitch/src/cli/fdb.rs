//! `vswitch fdb show [--json]`.

use serde_json::json;
use vswitch::agent::{expired, monotonic_ns};

use super::{
    Failure,
    format::{Instance, json, mac, table},
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
}

/// Runs an `fdb` subcommand against instance `name`.
pub fn run(name: &str, command: Command) -> Result<(), Failure> {
    match command {
        Command::Show { json: as_json } => show(name, as_json),
    }
}

fn show(name: &str, as_json: bool) -> Result<(), Failure> {
    let instance = Instance::open(name)?;
    let ports = instance.port_names();
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
            let port = ports
                .get(&entry.ifindex)
                .map_or_else(|| entry.ifindex.to_string(), |port| port.name.clone());
            let age = (!entry.is_static()).then(|| entry.age_ns(now_ns) / 1_000_000_000);
            json!({
                "mac": mac(&key.mac),
                "vlan": key.vlan,
                "port": port,
                "static": entry.is_static(),
                "age_secs": age,
            })
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
            ]
        })
        .collect();
    table(&["MAC", "VLAN", "PORT", "TYPE", "AGE"], &cells);
    Ok(())
}
