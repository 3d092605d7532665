//! Start-up: adopting what the previous agent of this instance left (its record, pinned maps
//! and links) where it still fits, and building the rest afresh.

use vswitch_common::port::FloodSet;

use super::{
    AgentError, Attached, LinkRole, Port, Switch, devices::ConfigDevices, flood_sets,
    transaction::Transaction,
};
use crate::{
    config::{Config, PortSpec},
    netlink::Journal,
    state::{DispatchRecord, InstanceState, PortRecord, TunnelRecord},
};

impl Switch {
    /// Makes the freshly loaded switch what `config` describes, adopting what the previous
    /// agent of this instance left (its record, pinned maps and links) where it still fits.
    pub(super) async fn build(
        &mut self,
        config: &Config,
        previous: Option<InstanceState>,
    ) -> Result<(), AgentError> {
        self.maps.set_switch(self.switch_config())?;
        let (mut left, previous_tunnels, previous_devices, previous_dispatch): (
            Vec<PortRecord>,
            Vec<TunnelRecord>,
            _,
            Vec<DispatchRecord>,
        ) = previous
            .map(|state| (state.ports, state.tunnels, state.devices, state.dispatch))
            .unwrap_or_default();
        self.devices =
            ConfigDevices::create(&config.devices, previous_devices, &self.links).await?;
        for spec in &config.ports {
            match left.iter().position(|record| record.name == spec.name) {
                Some(position) => {
                    let record = left.remove(position);
                    self.adopt_port(spec.clone(), record, config).await?;
                }
                None => self.add_port_unpublished(spec.clone(), config).await?,
            }
        }
        for record in left {
            if record.live {
                let spec = Port::from_record(&record).spec;
                self.live_ports.push(spec.name.clone());
                self.adopt_port(spec, record, config).await?;
            } else {
                self.forget_port(record).await;
            }
        }
        self.flood_sets_deferred = false;
        let mut transaction = Transaction::default();
        self.write_flood_sets(&mut transaction)?;
        transaction.commit();
        self.apply_tunnels(&config.vxlans).await?;
        self.forget_dispatch(previous_dispatch, &config.parents)
            .await?;
        self.apply_dispatch(&config.parents).await?;
        self.remove_strays()?;
        self.remove_stray_tunnels(&previous_tunnels)?;
        self.publish()?;
        Ok(())
    }

    /// Takes over port `spec` from the previous agent's `record`: same interface, counter slot,
    /// map entries and pinned links (their programs replaced atomically), so its traffic never
    /// stops. Where the interface is gone or the port changed kind, it is made anew.
    pub(super) async fn adopt_port(
        &mut self,
        spec: PortSpec,
        record: PortRecord,
        config: &Config,
    ) -> Result<(), AgentError> {
        let same_interface = self.links.index(&spec.name).await? == Some(record.ifindex);
        if !same_interface || record.netns.as_deref() != spec.kind.netns() {
            self.forget_port(record).await;
            return self.add_port_unpublished(spec, config).await;
        }
        log::info!("port {}: adopted from the previous agent", spec.name);
        let mut transaction = Transaction::default();
        self.apply_mtu(&spec, record.ifindex, record.mtu, &mut transaction)
            .await?;
        self.slots.claim(record.slot);
        let port = Port {
            spec,
            ifindex: record.ifindex,
            slot: record.slot,
        };
        let egress = self.egress()?;
        self.maps.set_port(port.ifindex, port.config(), &egress)?;
        self.write_allowed(&port, None)?;
        let program = self.attach(&port.spec, port.ifindex)?;
        self.offloads
            .apply(
                &port.spec.name,
                port.ifindex,
                port.spec.hook,
                config.port_offload(&port.spec),
                port.config(),
            )
            .await?;
        self.attached.insert(
            port.spec.name.clone(),
            Attached {
                program: Some(program),
                stub: None,
                created: record.created.into(),
            },
        );
        self.ports.push(port);
        if self.has_xdp_port() {
            self.stub_every_peer(&mut transaction).await?;
        }
        self.write_flood_sets(&mut transaction)?;
        transaction.commit();
        Ok(())
    }

    /// Removes what the previous agent left of a port the config no longer has: its pinned
    /// links, map entries and FDB entries, and the devices it created. Failures are logged.
    pub(super) async fn forget_port(&mut self, record: PortRecord) {
        log::info!("port {}: no longer configured; removing it", record.name);
        for role in LinkRole::ALL {
            let _ = std::fs::remove_file(self.link_pin(&record.name, role));
        }
        if let Err(error) = self.maps.remove_port(record.ifindex) {
            log::warn!("removing port {}: {error}", record.name);
        }
        for error in Journal::from(record.created).undo(&self.links).await {
            log::warn!("removing port {}: {error}", record.name);
        }
    }

    /// Removes map entries that no port accounts for: ports and flood sets of VLANs left by an
    /// earlier agent whose record was lost.
    pub(super) fn remove_strays(&mut self) -> Result<(), AgentError> {
        for ifindex in self.maps.port_ifindexes()? {
            if !self.ports.iter().any(|port| port.ifindex == ifindex) {
                self.maps.remove_port(ifindex)?;
            }
        }
        let wanted = flood_sets(&self.ports);
        for vlan in self.maps.flood_vlans()? {
            if !wanted.contains_key(&vlan) {
                self.maps.set_flood(vlan, FloodSet::EMPTY)?;
            }
        }
        Ok(())
    }
}
