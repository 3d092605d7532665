//! `vswitch dev add KIND NAME [options]`, `dev del NAME` and `dev show [--json]`: the device
//! manager, acting on the namespace the command runs in.

use vswitch::netlink::{
    Links,
    device::{DeviceError, DeviceInfo, DeviceSpec, Devices},
};

use super::{
    EXIT_USAGE, Failure,
    format::{json, table},
};

/// `dev` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a device (over rtnetlink; tun/tap through /dev/net/tun, netdevsim through sysfs).
    Add {
        /// The kind, then the name and options.
        #[command(subcommand)]
        spec: DeviceSpec,
    },
    /// Remove an interface (a netdevsim port removes its whole device) or a namespace.
    Del {
        /// The interface's or namespace's name.
        name: String,
    },
    /// List the interfaces of this namespace and the named namespaces.
    Show {
        /// Print JSON instead of a table.
        #[arg(long, short)]
        json: bool,
    },
}

/// Runs a `dev` subcommand.
pub async fn run(command: Command) -> Result<(), Failure> {
    let devices = Devices::new(Links::connect()?);
    match command {
        Command::Add { spec } => {
            devices.add(&spec).await.map_err(failure)?;
        }
        Command::Del { name } => devices.delete(&name).await.map_err(failure)?,
        Command::Show { json: true } => {
            let devices = devices.show().await.map_err(failure)?;
            json(&serde_json::to_value(devices).expect("device infos serialize"));
        }
        Command::Show { json: false } => print(&devices.show().await.map_err(failure)?),
    }
    Ok(())
}

fn failure(error: DeviceError) -> Failure {
    Failure {
        code: if error.is_bad_input() { EXIT_USAGE } else { 1 },
        error: error.into(),
    }
}

fn print(devices: &[DeviceInfo]) {
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|device| {
            let info: Vec<String> = device
                .info
                .iter()
                .map(|(key, value)| format!("{key}={}", value.to_string().trim_matches('"')))
                .collect();
            vec![
                device.name.clone(),
                optional(device.kind.clone()),
                optional(device.ifindex.map(|index| index.to_string())),
                optional(device.mtu.map(|mtu| mtu.to_string())),
                if device.up { "up" } else { "down" }.to_string(),
                optional(device.master.clone()),
                optional(device.parent.clone()),
                device.addresses.join(","),
                info.join(" "),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "KIND",
            "IFINDEX",
            "MTU",
            "STATE",
            "MASTER",
            "PARENT",
            "ADDRESSES",
            "INFO",
        ],
        &rows,
    );
}
