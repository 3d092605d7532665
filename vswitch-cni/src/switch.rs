//! The running switch: whether it runs, and its ports, through its record and control socket.

use vswitch::{
    control::{self, Command, PortAdd},
    netlink::Links,
    state::{InstanceState, StateError},
};

use crate::{
    config::{NetConf, Vlans},
    error::{CniError, Code},
};

/// The record of the running instance `name`; a switch that is not running is `code`.
pub fn running(name: &str, code: Code) -> Result<InstanceState, CniError> {
    InstanceState::read(name).map_err(|error| match error {
        StateError::NotRunning(_) => CniError::new(
            code,
            format!("{error}; the network's \"switch\" must name a running vswitch"),
        ),
        _ => CniError::caused(
            Code::Io,
            format!("reading the record of switch {name}"),
            &error,
        ),
    })
}

/// Fails unless the agent of `state` (instance `name`) runs in this process's network
/// namespace: the host end is made here, and the switch can only take its own interfaces.
pub fn require_same_netns(name: &str, state: &InstanceState) -> Result<(), CniError> {
    use std::os::unix::fs::MetadataExt as _;
    let identity = |path: String| {
        std::fs::metadata(&path)
            .map(|meta| (meta.dev(), meta.ino()))
            .map_err(|error| CniError::caused(Code::Io, format!("reading {path}"), &error))
    };
    let switch = identity(format!("/proc/{}/ns/net", state.pid))?;
    if switch == identity("/proc/self/ns/net".to_string())? {
        Ok(())
    } else {
        Err(CniError::new(
            Code::Failed,
            format!(
                "switch {name} runs in another network namespace than this plugin: run the \
                 container runtime in the switch's namespace (or the switch in the runtime's)"
            ),
        ))
    }
}

/// Adds the existing interface `port` (a veth whose peer is the container's) to the switch as
/// a TCX port with the config's VLANs and MTU, delivering straight to the peer.
pub async fn add_port(config: &NetConf, port: &str) -> Result<(), CniError> {
    let (vlan, trunk, native_vlan) = match &config.vlans {
        Vlans::Access(vlan) => (*vlan, None, None),
        Vlans::Trunk { vlans, native } => (None, Some(vlans.clone()), *native),
    };
    let request = PortAdd {
        name: port.to_string(),
        existing: true,
        hook: Some("tc".to_string()),
        vlan,
        trunk,
        native_vlan,
        mtu: config.mtu,
        // The peer is the container's interface: frames go straight to it.
        redirect_peer: true,
        ..PortAdd::default()
    };
    control::call(&config.switch, Command::PortAdd(request)).await?;
    Ok(())
}

/// Takes `port` out of switch `name` (if it runs and has it) and deletes the veth (if it is
/// still there). Idempotent: what is already gone is fine.
pub async fn remove_port(name: &str, port: &str) -> Result<(), CniError> {
    match InstanceState::read(name) {
        Ok(state) if state.ports.iter().any(|record| record.name == port) => {
            control::call(
                name,
                Command::PortDel {
                    name: port.to_string(),
                },
            )
            .await?;
        }
        Ok(_) | Err(StateError::NotRunning(_)) => {}
        Err(error) => {
            return Err(CniError::caused(
                Code::Io,
                format!("reading the record of switch {name}"),
                &error,
            ));
        }
    }
    let links = Links::connect()?;
    if let Some(index) = links.index(port).await? {
        // Gone meanwhile (its namespace went away) is as good as deleted.
        if let Err(error) = links.delete(index).await
            && links.index(port).await?.is_some()
        {
            return Err(error.into());
        }
    }
    Ok(())
}
