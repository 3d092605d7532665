//! `vswitch port show [--json]`, `port add PORT [options]` and `port del PORT`.

use serde_json::json;
use vswitch::control::{self, PortAdd};

use super::{
    Failure,
    format::{Instance, json, table},
    send,
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
    /// Add a port to the running switch without disturbing the others.
    Add(AddArgs),
    /// Remove a port (and the veth and namespace it created) without disturbing the others.
    Del {
        /// The port's interface name.
        port: String,
    },
}

/// Arguments of `port add`: the fields of a config file's `[[port]]`, checked by the agent
/// with the same rules.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The port's (switch-side) interface name.
    pub port: String,
    /// Create a veth whose peer goes into this namespace as eth0 (created if missing).
    #[arg(long)]
    pub netns: Option<String>,
    /// An address (CIDR) for the namespace end; repeat for several.
    #[arg(long = "address", value_name = "CIDR")]
    pub addresses: Vec<String>,
    /// Access port in this VLAN.
    #[arg(long, conflicts_with_all = ["trunk", "native_vlan"])]
    pub vlan: Option<u16>,
    /// Trunk port carrying these VLANs tagged (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "VLANS")]
    pub trunk: Option<Vec<u16>>,
    /// VLAN of untagged frames on the trunk.
    #[arg(long, requires = "trunk")]
    pub native_vlan: Option<u16>,
    /// Use an existing interface of the switch's namespace instead of creating a veth.
    #[arg(long)]
    pub existing: bool,
    /// Hook the port's frames are switched at.
    #[arg(long, value_parser = ["tc", "xdp"])]
    pub hook: Option<String>,
    /// MTU of both veth ends (of the interface, with --existing).
    #[arg(long)]
    pub mtu: Option<u32>,
    /// With --existing, a veth whose peer is in another namespace (a container's): frames go
    /// straight to the peer with bpf_redirect_peer. Not for a peer that runs XDP.
    #[arg(long, requires = "existing")]
    pub redirect_peer: bool,
    /// The most source addresses the port may have learned at once; new ones beyond are not
    /// learned (their frames are still forwarded) and are counted as learn_refused.
    #[arg(long, value_name = "N")]
    pub max_macs: Option<u32>,
    /// The most frames a second the port may flood (broadcast, multicast, unknown unicast);
    /// the rest are dropped and counted as flood_limit.
    #[arg(long, value_name = "PPS")]
    pub flood_pps: Option<u32>,
    /// Forward only frames from source addresses with a static entry on the port (fdb add, or
    /// --allowed-mac); the port learns nothing.
    #[arg(long)]
    pub locked: bool,
    /// A static FDB entry towards the port in each of its VLANs (repeat for more).
    #[arg(long = "allowed-mac", value_name = "MAC")]
    pub allowed_macs: Vec<String>,
}

impl From<AddArgs> for PortAdd {
    fn from(args: AddArgs) -> Self {
        Self {
            name: args.port,
            netns: args.netns,
            addresses: args.addresses,
            vlan: args.vlan,
            trunk: args.trunk,
            native_vlan: args.native_vlan,
            existing: args.existing,
            hook: args.hook,
            mtu: args.mtu,
            redirect_peer: args.redirect_peer,
            max_macs: args.max_macs,
            flood_pps: args.flood_pps,
            locked: args.locked,
            allowed_macs: args.allowed_macs,
        }
    }
}

/// Runs a `port` subcommand against instance `name`.
pub async fn run(name: &str, command: Command) -> Result<(), Failure> {
    match command {
        Command::Show { json: as_json } => show(name, as_json),
        Command::Add(args) => send(name, control::Command::PortAdd(args.into())).await,
        Command::Del { port } => send(name, control::Command::PortDel { name: port }).await,
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
            "max_macs": port.max_macs,
            "macs": instance.maps.macs_held(port.slot)?,
            "flood_pps": port.flood_pps,
            "locked": port.locked,
            "allowed_macs": port.allowed_macs,
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

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command as Top};

    fn add(args: &str) -> PortAdd {
        let cli = Cli::try_parse_from(format!("vswitch port add {args}").split_whitespace())
            .unwrap_or_else(|error| panic!("{args}: {error}"));
        match cli.command {
            Top::Port {
                command: Command::Add(args),
            } => args.into(),
            other => panic!("{args}: parsed as {other:?}"),
        }
    }

    #[test]
    fn add_passes_the_defences() {
        assert_eq!(
            add("vp5 --netns h5 --max-macs 64 --flood-pps 1000 --locked \
                 --allowed-mac 02:00:00:00:00:03 --allowed-mac 02:00:00:00:00:04"),
            PortAdd {
                name: "vp5".into(),
                netns: Some("h5".into()),
                max_macs: Some(64),
                flood_pps: Some(1000),
                locked: true,
                allowed_macs: vec!["02:00:00:00:00:03".into(), "02:00:00:00:00:04".into()],
                ..PortAdd::default()
            }
        );
    }

    #[test]
    fn add_passes_the_fields_as_given() {
        assert_eq!(
            add(
                "vp4 --netns h4 --address 10.0.0.4/24 --address fd00::4/64 --trunk 10,20 \
                 --native-vlan 1 --hook xdp --mtu 3000"
            ),
            PortAdd {
                name: "vp4".into(),
                netns: Some("h4".into()),
                addresses: vec!["10.0.0.4/24".into(), "fd00::4/64".into()],
                trunk: Some(vec![10, 20]),
                native_vlan: Some(1),
                hook: Some("xdp".into()),
                mtu: Some(3000),
                ..PortAdd::default()
            }
        );
        // Out-of-range VLANs are the agent's to refuse, with the config's message.
        assert_eq!(
            add("up1 --existing --vlan 5000"),
            PortAdd {
                name: "up1".into(),
                existing: true,
                vlan: Some(5000),
                ..PortAdd::default()
            }
        );
    }
}
