//! `vswitch stats [--json]`.

use serde_json::{Map, Value, json};
use vswitch_common::stats::{DropReason, PortStats};

use super::{
    Failure,
    format::{Instance, json, table},
};

/// Arguments of `stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of a table.
    #[arg(long, short)]
    pub json: bool,
}

/// The pseudo-port that counts frames from interfaces that are not ports.
const NOT_A_PORT: &str = "(not a port)";

/// Prints per-port counters with drops by reason.
pub fn run(name: &str, args: &Args) -> Result<(), Failure> {
    let instance = Instance::open(name)?;
    let mut rows = vec![(NOT_A_PORT.to_string(), instance.maps.port_stats(0)?)];
    for port in &instance.state.ports {
        rows.push((port.name.clone(), instance.maps.port_stats(port.slot)?));
    }
    if args.json {
        json(&Value::Array(
            rows.iter()
                .map(|(port, stats)| to_json(port, stats))
                .collect(),
        ));
        return Ok(());
    }
    let mut header = vec!["PORT", "FORWARDED", "FLOODED", "LEARNED", "DROPPED"];
    header.extend(DropReason::ALL.iter().map(|reason| reason.name()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(port, stats)| {
            let mut row = vec![
                port.clone(),
                stats.forwarded.to_string(),
                stats.flooded.to_string(),
                stats.learned.to_string(),
                stats.total_drops().to_string(),
            ];
            row.extend(stats.drops.iter().map(u64::to_string));
            row
        })
        .collect();
    table(&header, &cells);
    Ok(())
}

fn to_json(port: &str, stats: &PortStats) -> Value {
    let drops: Map<String, Value> = DropReason::ALL
        .iter()
        .map(|reason| {
            (
                reason.name().to_string(),
                stats.drops[*reason as usize].into(),
            )
        })
        .collect();
    json!({
        "port": port,
        "rx_packets": stats.rx_packets,
        "rx_bytes": stats.rx_bytes,
        "tx_packets": stats.tx_packets,
        "tx_bytes": stats.tx_bytes,
        "forwarded": stats.forwarded,
        "flooded": stats.flooded,
        "learned": stats.learned,
        "dropped": stats.total_drops(),
        "drops": drops,
    })
}
