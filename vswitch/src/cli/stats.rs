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

/// Prints per-port counters with drops by reason; then each VXLAN tunnel as a port (named
/// `vxlanVNI`: received frames are the decapsulated ones, transmitted the encapsulated ones)
/// and each underlay (`underlay:NAME`: VXLAN frames refused before their tunnel is known);
/// last each dispatch parent (`parent:NAME`: frames received, and dispatched to a child as
/// forwarded) and child (`child:NAME`: frames it sent as received, frames it got as transmitted).
pub fn run(name: &str, args: &Args) -> Result<(), Failure> {
    let instance = Instance::open(name)?;
    let mut rows = vec![(NOT_A_PORT.to_string(), instance.maps.port_stats(0)?, None)];
    for port in &instance.state.ports {
        rows.push((
            port.name.clone(),
            instance.maps.port_stats(port.slot)?,
            None,
        ));
    }
    let mut underlays: Vec<(&str, u32)> = Vec::new();
    for tunnel in &instance.state.tunnels {
        let stats = instance.maps.port_stats(tunnel.slot)?;
        rows.push((tunnel_name(tunnel.vni), stats, Some(tunnel.vni)));
        if !underlays.iter().any(|(name, _)| *name == tunnel.underlay) {
            underlays.push((&tunnel.underlay, tunnel.underlay_slot));
        }
    }
    for (underlay, slot) in underlays {
        rows.push((
            format!("underlay:{underlay}"),
            instance.maps.port_stats(slot)?,
            None,
        ));
    }
    for record in &instance.state.dispatch {
        let kind = if record.parent.is_some() {
            "child"
        } else {
            "parent"
        };
        rows.push((
            format!("{kind}:{}", record.name),
            instance.maps.port_stats(record.slot)?,
            None,
        ));
    }
    if args.json {
        json(&Value::Array(
            rows.iter()
                .map(|(port, stats, vni)| to_json(port, stats, *vni))
                .collect(),
        ));
        return Ok(());
    }
    let mut header = vec![
        "PORT",
        "RX",
        "TX",
        "FORWARDED",
        "FLOODED",
        "LEARNED",
        "ANSWERED",
        "DROPPED",
    ];
    header.extend(DropReason::ALL.iter().map(|reason| reason.name()));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(port, stats, _)| {
            let mut row = vec![
                port.clone(),
                stats.rx_packets.to_string(),
                stats.tx_packets.to_string(),
                stats.forwarded.to_string(),
                stats.flooded.to_string(),
                stats.learned.to_string(),
                stats.answered.to_string(),
                stats.total_drops().to_string(),
            ];
            row.extend(stats.drops.iter().map(u64::to_string));
            row
        })
        .collect();
    table(&header, &cells);
    Ok(())
}

/// How `stats` and `fdb show` name the tunnel of `vni`.
pub fn tunnel_name(vni: u32) -> String {
    format!("vxlan{vni}")
}

fn to_json(port: &str, stats: &PortStats, vni: Option<u32>) -> Value {
    let drops: Map<String, Value> = DropReason::ALL
        .iter()
        .map(|reason| {
            (
                reason.name().to_string(),
                stats.drops[*reason as usize].into(),
            )
        })
        .collect();
    let mut row = json!({
        "port": port,
        "rx_packets": stats.rx_packets,
        "rx_bytes": stats.rx_bytes,
        "tx_packets": stats.tx_packets,
        "tx_bytes": stats.tx_bytes,
        "forwarded": stats.forwarded,
        "flooded": stats.flooded,
        "learned": stats.learned,
        "answered": stats.answered,
        "dropped": stats.total_drops(),
        "drops": drops,
    });
    if let (Some(vni), Some(row)) = (vni, row.as_object_mut()) {
        row.insert("vni".to_string(), vni.into());
        row.insert("encapsulated".to_string(), stats.tx_packets.into());
        row.insert("decapsulated".to_string(), stats.rx_packets.into());
    }
    row
}
