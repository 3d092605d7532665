//! Reloading: the config file re-read, and only the difference applied.

use std::path::Path;

use vswitch_common::switch::SwitchConfig;

use super::{AgentError, Switch};
use crate::config::{Config, PortSpec};

impl Switch {
    /// The switch-wide settings the datapath reads.
    pub(super) fn switch_config(&self) -> SwitchConfig {
        SwitchConfig {
            ageing_ns: self.ageing_ns,
            max_macs: self.max_macs,
            ..SwitchConfig::default()
        }
    }

    /// The desired state as a configuration: the ports the switch has now.
    pub(super) fn current(&self) -> Config {
        Config {
            name: self.name.clone(),
            ageing_secs: self.ageing_ns / 1_000_000_000,
            ports: self.ports.iter().map(|port| port.spec.clone()).collect(),
            offload: self.offload,
            vxlans: self
                .tunnels
                .by_vni
                .values()
                .map(|tunnel| tunnel.spec.clone())
                .collect(),
            devices: self.devices.specs().to_vec(),
            parents: self.dispatch.specs(),
            max_macs: (self.max_macs != 0).then_some(self.max_macs),
            loop_guard: self.loop_guard.spec(),
            cluster: self.cluster.as_ref().map(|link| link.spec.clone()),
        }
    }

    /// Makes the switch what `config` (a re-read config file) describes, plus the ports added
    /// live since: ports that are gone are removed, new ones added, changed ones updated. Each
    /// port is its own transaction; the first failure stops the reload and is returned, with
    /// the changes before it applied and the failed one undone.
    pub async fn reload(&mut self, config: &Config) -> Result<String, AgentError> {
        if config.devices != self.devices.specs() {
            return Err(AgentError::Refused(
                "the [[device]] tables changed: devices are made when the agent starts, so \
                 restart it (`vswitch run`) to apply them"
                    .to_string(),
            ));
        }
        if config.cluster != self.cluster.as_ref().map(|link| link.spec.clone()) {
            return Err(AgentError::Refused(
                "[cluster] changed: the agent joins the cluster when it starts, so restart it \
                 (`vswitch run`) to apply it"
                    .to_string(),
            ));
        }
        let mut wanted: Vec<PortSpec> = config.ports.clone();
        for live in &self.live_ports {
            if !wanted.iter().any(|spec| &spec.name == live)
                && let Some(port) = self.ports.iter().find(|port| &port.spec.name == live)
            {
                wanted.push(port.spec.clone());
            }
        }
        let desired = Config {
            ports: wanted,
            ..config.clone()
        };
        desired.check_ports().map_err(AgentError::Refused)?;
        let mut changes = Vec::new();
        // Each change publishes nothing itself; the record is written once, after the changes
        // that went through, also when a later one failed.
        let applied = async {
            let stale: Vec<String> = self
                .ports
                .iter()
                .filter(|port| !desired.ports.iter().any(|spec| spec.name == port.spec.name))
                .map(|port| port.spec.name.clone())
                .collect();
            for name in stale {
                self.remove_port_unpublished(&name).await?;
                changes.push(format!("removed port {name}"));
            }
            for spec in &desired.ports {
                let current = self
                    .ports
                    .iter()
                    .find(|port| port.spec.name == spec.name)
                    .map(|port| port.spec.clone());
                match current {
                    None => {
                        self.add_port_unpublished(spec.clone(), &desired).await?;
                        changes.push(format!("added port {}", spec.name));
                    }
                    Some(current) if current == *spec => {}
                    Some(current) if current.kind == spec.kind && current.hook == spec.hook => {
                        self.update_port(spec.clone(), &desired).await?;
                        changes.push(format!("updated port {}", spec.name));
                    }
                    Some(_) => {
                        self.remove_port_unpublished(&spec.name).await?;
                        self.add_port_unpublished(spec.clone(), &desired).await?;
                        changes.push(format!("re-created port {}", spec.name));
                    }
                }
            }
            changes.extend(self.apply_tunnels(&desired.vxlans).await?);
            changes.extend(self.apply_dispatch(&desired.parents).await?);
            if config.loop_guard != self.loop_guard.spec() {
                self.loop_guard.set_spec(config.loop_guard);
                changes.push(match config.loop_guard {
                    Some(guard) => format!(
                        "loop guard at {} moves a second, {} s hold-down",
                        guard.moves_per_sec, guard.hold_secs
                    ),
                    None => "loop guard off".to_string(),
                });
            }
            let ageing_ns = config.ageing_secs * 1_000_000_000;
            let max_macs = config.max_macs.unwrap_or(0);
            if ageing_ns != self.ageing_ns || max_macs != self.max_macs {
                if ageing_ns != self.ageing_ns {
                    changes.push(format!("ageing set to {} s", config.ageing_secs));
                }
                if max_macs != self.max_macs {
                    changes.push(format!("switch-wide max_macs set to {max_macs}"));
                }
                self.ageing_ns = ageing_ns;
                self.max_macs = max_macs;
                self.maps.set_switch(self.switch_config())?;
            }
            Ok::<(), AgentError>(())
        }
        .await;
        self.live_ports
            .retain(|live| !config.ports.iter().any(|spec| &spec.name == live));
        self.offload = config.offload;
        self.publish()?;
        applied?;
        Ok(if changes.is_empty() {
            "reloaded: nothing changed".to_string()
        } else {
            format!("reloaded: {}", changes.join(", "))
        })
    }

    /// Re-reads the config file (the built-in demo without one) and applies the difference.
    pub async fn reload_file(&mut self, path: Option<&Path>) -> Result<String, AgentError> {
        let mut config = match path {
            Some(path) => Config::load(path)?,
            None => Config::demo(),
        };
        config.name = self.name.clone();
        self.reload(&config).await
    }
}
