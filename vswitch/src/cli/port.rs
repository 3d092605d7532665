//! `vswitch port show [--json]`.

use serde_json::json;

use super::{
    Failure,
    format::{Instance, json, table},
};

/// `port` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the ports with their mode, VLANs and counters.
    Show {
        /// Print JSON instead of a table.
        #[arg(long, short)]
        json: bool,
    },
}

/// Runs a `port` subcommand against instance `name`.
pub fn run(name: &str, command: Command) -> Result<(), Failure> {
    match command {
        Command::Show { json: as_json } => show(name, as_json),
    }
}

fn show(name: &str, as_json: bool) -> Result<(), Failure> {
    let instance = Instance::open(name)?;
    let mut rows = Vec::new();
    for port in &instance.state.ports {
        let stats = instance.maps.port_stats(port.slot)?;
        let offload = match &port.offload {
            Some(offload) => {
                // Read back from the device: the kernel asks the driver for the map's value.
                let filter = vswitch::offload::read_filter(offload.map_id)?;
                json!({
                    "hook": offload.hook,
                    "map_id": offload.map_id,
                    "pvid": filter.pvid,
                    "tagged": filter.tagged.iter().collect::<Vec<u16>>(),
                })
            }
            None => serde_json::Value::Null,
        };
        rows.push(json!({
            "name": port.name,
            "ifindex": port.ifindex,
            "mode": port.mode,
            "hook": port.hook,
            "datapath": port.datapath,
            "offload": offload,
            "vlan": if port.mode == "access" { port.vlan } else { None },
            "trunk": port.trunk,
            "native_vlan": if port.mode == "trunk" { port.vlan } else { None },
            "rx_packets": stats.rx_packets,
            "tx_packets": stats.tx_packets,
            "rx_bytes": stats.rx_bytes,
            "tx_bytes": stats.tx_bytes,
            "drops": stats.total_drops(),
        }));
    }
    if as_json {
        json(&serde_json::Value::Array(rows));
        return Ok(());
    }
    let cells: Vec<Vec<String>> = instance
        .state
        .ports
        .iter()
        .zip(&rows)
        .map(|(port, row)| {
            let vlans = match port.mode.as_str() {
                "access" => port.vlan.map(|vid| vid.to_string()).unwrap_or_default(),
                _ => {
                    let tagged: Vec<String> = port.trunk.iter().map(u16::to_string).collect();
                    let native = port
                        .vlan
                        .map(|vid| format!(" native {vid}"))
                        .unwrap_or_default();
                    format!("{}{native}", tagged.join(","))
                }
            };
            vec![
                port.name.clone(),
                port.ifindex.to_string(),
                port.mode.clone(),
                row["hook"].as_str().unwrap_or_default().to_string(),
                row["datapath"].as_str().unwrap_or_default().to_string(),
                vlans,
                row["rx_packets"].to_string(),
                row["tx_packets"].to_string(),
                row["rx_bytes"].to_string(),
                row["tx_bytes"].to_string(),
                row["drops"].to_string(),
            ]
        })
        .collect();
    table(
        &[
            "NAME", "IFINDEX", "MODE", "HOOK", "DATAPATH", "VLANS", "RX_PKTS", "TX_PKTS",
            "RX_BYTES", "TX_BYTES", "DROPS",
        ],
        &cells,
    );
    Ok(())
}
