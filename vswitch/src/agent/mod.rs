//! The running switch: it keeps a desired state (the config file plus live changes) and applies
//! every change to it as a transaction of its own, on a switch that keeps forwarding.
//!
//! A transaction (adding a port, removing one, changing one, an FDB entry) records how to undo
//! each step it took; when a step fails, the steps taken so far are undone newest first, so the
//! switch is left exactly as it was and the error says which step failed. Changes never stop
//! traffic between the ports they do not touch: flood sets are replaced whole, and `PORTS` and
//! `FLOOD` are written under the barrier discipline of `datapath::barrier`.

mod ageing;
pub mod bpffs;
mod ports;
mod requests;
mod slots;
mod transaction;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

pub use ageing::{expired, monotonic_ns};
pub use ports::{Port, flood_sets};
use slots::Slots;
use transaction::{Step, Transaction};
use vswitch_common::{
    fdb::{FdbEntry, FdbKey},
    mac::{self, MacAddr},
    port::FloodSet,
    switch::SwitchConfig,
};

use crate::{
    config::{Config, ConfigError, Hook, PortKind, PortSpec},
    control::{ControlError, ControlRequest, ControlServer},
    datapath::{Attachment, DatapathError, Maps, Programs},
    netlink::{Created, Journal, LinkEvents, Links, NetlinkError, netns},
    offload::{OffloadError, PortOffloads},
    state::{self, InstanceState, OffloadRecord, PortRecord, StateError},
};
use aya::programs::ProgramFd;

/// Name of the peer interface inside a port's namespace.
pub const PEER_NAME: &str = "eth0";

/// Why the switch could not start, or a change could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A device or namespace operation failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Loading, attaching or a map operation failed.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    /// The instance record.
    #[error(transparent)]
    State(#[from] StateError),
    /// Offloading a port's filter stage failed where offload was required.
    #[error(transparent)]
    Offload(#[from] OffloadError),
    /// The BPF filesystem for the pins.
    #[error("preparing {}: {source}", path.display())]
    Pins {
        /// The pin directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A configuration file that was refused; the switch is unchanged.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A change that contradicts the switch's state or limits; the switch is unchanged.
    #[error("{0}")]
    Refused(String),
    /// The control socket.
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl AgentError {
    /// Whether the request was at fault (exit status 2) rather than the system (1).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Config(_) | Self::Refused(_))
    }
}

/// What the switch keeps about a port besides its map entry.
#[derive(Debug)]
struct Attached {
    /// The ingress program's link.
    program: Option<Attachment>,
    /// The pass-through program on the veth peer, when XDP ports need it.
    stub: Option<Attachment>,
    /// The devices this port created (veth, namespace), removed with the port.
    created: Journal,
}

/// A running switch instance.
pub struct Switch {
    name: String,
    ageing_ns: u64,
    map_ids: crate::datapath::MapIds,
    programs: Programs,
    maps: Maps,
    /// The ports in the order they were added, with their counter slots.
    ports: Vec<Port>,
    /// Per port name: links and created devices.
    attached: BTreeMap<String, Attached>,
    /// Ports added with `port add` that the config file does not name; a reload keeps them.
    live_ports: Vec<String>,
    slots: Slots,
    links: Links,
    offloads: PortOffloads,
    /// The control socket, bound at start; the run loop takes it.
    control: Option<ControlServer>,
}

impl Switch {
    /// Builds the switch that `config` describes in this network namespace.
    ///
    /// On failure, everything created so far is removed again.
    pub async fn start(config: &Config, log_level: u8) -> Result<Self, AgentError> {
        InstanceState::ensure_not_running(&config.name)?;
        let previous = match InstanceState::read_any(&config.name) {
            Ok(previous) if previous.layout != state::LAYOUT => {
                return Err(AgentError::Refused(format!(
                    "switch {} was left by a vswitch of state layout {} (this one uses {}): stop \
                     it with that version, or remove its state with `cargo xtask clean`",
                    config.name,
                    previous.layout,
                    state::LAYOUT
                )));
            }
            Ok(previous) => Some(previous),
            Err(StateError::NotRunning(_)) => None,
            Err(error) => return Err(error.into()),
        };
        let control = ControlServer::bind(&config.name)?;
        let links = Links::connect()?;
        let pins = state::pin_dir(&config.name);
        let shared = bpffs::prepare_keeping(&pins).map_err(|source| AgentError::Pins {
            path: pins.clone(),
            source,
        })?;
        if !shared {
            log::info!(
                "/sys/fs/bpf here is this process's own BPF filesystem (as under `ip netns exec`): \
                 the switch keeps forwarding only while this agent runs, and a restart re-attaches. \
                 For restarts without loss, run the agent with the host's /sys, e.g. \
                 `nsenter --net=/run/netns/NS vswitch run`"
            );
        }
        let (mut programs, offloads) = (
            Programs::load_pinned(log_level, &pins)?,
            PortOffloads::connect()?,
        );
        let (maps, map_ids) = Maps::take_pinned(programs.ebpf_mut(), &pins)?;
        let mut switch = Self {
            name: config.name.clone(),
            ageing_ns: config.ageing_secs * 1_000_000_000,
            map_ids,
            programs,
            maps,
            ports: Vec::new(),
            attached: BTreeMap::new(),
            live_ports: Vec::new(),
            slots: Slots::new(),
            links,
            offloads,
            control: Some(control),
        };
        if let Err(error) = switch.build(config, previous).await {
            switch.teardown(false).await;
            return Err(error);
        }
        Ok(switch)
    }

    /// Makes the freshly loaded switch what `config` describes, adopting what the previous
    /// agent of this instance left (its record, pinned maps and links) where it still fits.
    async fn build(
        &mut self,
        config: &Config,
        previous: Option<InstanceState>,
    ) -> Result<(), AgentError> {
        self.maps.set_switch(SwitchConfig {
            ageing_ns: self.ageing_ns,
        })?;
        let mut left: Vec<PortRecord> = previous.map(|state| state.ports).unwrap_or_default();
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
        self.remove_strays()?;
        self.publish()?;
        Ok(())
    }

    /// Takes over port `spec` from the previous agent's `record`: same interface, counter slot,
    /// map entries and pinned links (their programs replaced atomically), so its traffic never
    /// stops. Where the interface is gone or the port changed kind, it is made anew.
    async fn adopt_port(
        &mut self,
        spec: PortSpec,
        record: PortRecord,
        config: &Config,
    ) -> Result<(), AgentError> {
        let same_interface = self.links.index(&spec.name).await? == Some(record.ifindex);
        if !same_interface || Port::from_record(&record).spec.kind.netns() != spec.kind.netns() {
            self.forget_port(record).await;
            return self.add_port_unpublished(spec, config).await;
        }
        log::info!("port {}: adopted from the previous agent", spec.name);
        self.slots.claim(record.slot);
        let port = Port {
            spec,
            ifindex: record.ifindex,
            slot: record.slot,
        };
        let egress = self.egress()?;
        self.maps.set_port(port.ifindex, port.config(), &egress)?;
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
        let mut transaction = Transaction::default();
        if self.has_xdp_port() {
            self.stub_every_peer(&mut transaction).await?;
        }
        self.write_flood_sets(&mut transaction)?;
        transaction.commit();
        Ok(())
    }

    /// Removes what the previous agent left of a port the config no longer has: its pinned
    /// links, map entries and FDB entries, and the devices it created. Failures are logged.
    async fn forget_port(&mut self, record: PortRecord) {
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
    fn remove_strays(&mut self) -> Result<(), AgentError> {
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

    /// Where the link of `port`'s program in `role` is pinned: `links/ROLE/PORT`, with the
    /// dots of the interface name escaped (bpffs refuses names with dots, which it reserves).
    fn link_pin(&self, port: &str, role: LinkRole) -> PathBuf {
        let file = port.replace('%', "%25").replace('.', "%2e");
        state::pin_dir(&self.name)
            .join("links")
            .join(role.directory())
            .join(file)
    }

    /// A handle on the devmap egress program for a `TX_PORTS` entry.
    fn egress(&self) -> Result<ProgramFd, DatapathError> {
        self.programs.egress_fd()?.try_clone().map_err(|error| {
            DatapathError::program("duplicating the egress program fd")(error.into())
        })
    }

    /// Attaches `spec`'s ingress program to its interface, pinned (or taking over its pin).
    fn attach(&mut self, spec: &PortSpec, ifindex: u32) -> Result<Attachment, AgentError> {
        Ok(match spec.hook {
            Hook::Tc => {
                let pin = self.link_pin(&spec.name, LinkRole::Tc);
                self.programs.attach_tc(&spec.name, &pin)?
            }
            Hook::Xdp => {
                let pin = self.link_pin(&spec.name, LinkRole::Xdp);
                self.programs.attach_xdp(ifindex, &pin)?
            }
        })
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loaded object, for starting the datapath logger.
    pub fn ebpf_mut(&mut self) -> &mut aya::Ebpf {
        self.programs.ebpf_mut()
    }

    /// The ports, in the order they were added.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// The desired state as a configuration: the ports the switch has now.
    fn current(&self) -> Config {
        Config {
            name: self.name.clone(),
            ageing_secs: self.ageing_ns / 1_000_000_000,
            ports: self.ports.iter().map(|port| port.spec.clone()).collect(),
            offload: crate::offload::Offload::default(),
        }
    }

    /// Adds a port to the running switch, without disturbing the others.
    pub async fn add_port(&mut self, spec: PortSpec) -> Result<(), AgentError> {
        let config = self.current();
        let name = spec.name.clone();
        self.add_port_unpublished(spec, &config).await?;
        self.live_ports.push(name);
        self.publish()?;
        Ok(())
    }

    /// Removes port `name` and what it created, without disturbing the others.
    pub async fn remove_port(&mut self, name: &str) -> Result<(), AgentError> {
        if !self.ports.iter().any(|port| port.spec.name == name) {
            return Err(AgentError::Refused(format!("switch has no port {name}")));
        }
        self.remove_port_unpublished(name).await?;
        self.live_ports.retain(|live| live != name);
        self.publish()?;
        Ok(())
    }

    /// Adds (or replaces) the static FDB entry `mac` in `vlan` towards port `port`. Without a
    /// VLAN, the port's untagged VLAN.
    pub fn add_static_fdb(
        &mut self,
        mac: MacAddr,
        vlan: Option<u16>,
        port: &str,
    ) -> Result<(), AgentError> {
        let target = self
            .ports
            .iter()
            .find(|candidate| candidate.spec.name == port)
            .ok_or_else(|| AgentError::Refused(format!("switch has no port {port}")))?;
        let config = target.config();
        let vlan = match vlan {
            Some(vlan) => vlan,
            None if config.pvid != 0 => config.pvid,
            None => {
                return Err(AgentError::Refused(format!(
                    "port {port} carries no untagged VLAN: give --vlan"
                )));
            }
        };
        if config.egress(vlan) == vswitch_common::port::Egress::NotMember {
            return Err(AgentError::Refused(format!(
                "port {port} is not a member of VLAN {vlan}"
            )));
        }
        let key = FdbKey { mac, vlan };
        self.maps.set_fdb(key, FdbEntry::fixed(target.ifindex))?;
        Ok(())
    }

    /// Removes the FDB entry of `mac` in `vlan` (learned or static). Without a VLAN, every
    /// entry of `mac`.
    pub fn remove_fdb(&mut self, mac: MacAddr, vlan: Option<u16>) -> Result<usize, AgentError> {
        let keys: Vec<FdbKey> = self
            .maps
            .fdb_entries()?
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.mac == mac && vlan.is_none_or(|vlan| key.vlan == vlan))
            .collect();
        if keys.is_empty() {
            return Err(AgentError::Refused(format!(
                "no FDB entry for {}{}",
                mac::Colons(&mac),
                vlan.map_or(String::new(), |vlan| format!(" in VLAN {vlan}"))
            )));
        }
        for key in &keys {
            self.maps.remove_fdb(key)?;
        }
        Ok(keys.len())
    }

    /// Makes the switch what `config` (a re-read config file) describes, plus the ports added
    /// live since: ports that are gone are removed, new ones added, changed ones updated. Each
    /// port is its own transaction; the first failure stops the reload and is returned, with
    /// the changes before it applied and the failed one undone.
    pub async fn reload(&mut self, config: &Config) -> Result<String, AgentError> {
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
        let ageing_ns = config.ageing_secs * 1_000_000_000;
        if ageing_ns != self.ageing_ns {
            self.maps.set_switch(SwitchConfig { ageing_ns })?;
            self.ageing_ns = ageing_ns;
            changes.push(format!("ageing set to {} s", config.ageing_secs));
        }
        self.live_ports
            .retain(|live| !config.ports.iter().any(|spec| &spec.name == live));
        self.publish()?;
        Ok(if changes.is_empty() {
            "reloaded: nothing changed".to_string()
        } else {
            format!("reloaded: {}", changes.join(", "))
        })
    }

    /// Adds `spec` as one transaction; `config` is the desired state it joins, checked first.
    async fn add_port_unpublished(
        &mut self,
        spec: PortSpec,
        config: &Config,
    ) -> Result<(), AgentError> {
        let mut joined = config.clone();
        if !joined.ports.iter().any(|port| port.name == spec.name) {
            joined.ports.push(spec.clone());
        }
        if self.ports.iter().any(|port| port.spec.name == spec.name) {
            return Err(AgentError::Refused(format!(
                "port {} is already on the switch",
                spec.name
            )));
        }
        let mut check = self.current();
        check.ports.push(spec.clone());
        check.check_ports().map_err(AgentError::Refused)?;
        let mut transaction = Transaction::default();
        match self
            .try_add_port(&spec, config.port_offload(&spec), &mut transaction)
            .await
        {
            Ok(attached) => {
                transaction.commit();
                self.attached.insert(spec.name.clone(), attached);
                Ok(())
            }
            Err(error) => {
                self.rollback(transaction).await;
                Err(error)
            }
        }
    }

    async fn try_add_port(
        &mut self,
        spec: &PortSpec,
        offload: crate::offload::Offload,
        transaction: &mut Transaction,
    ) -> Result<Attached, AgentError> {
        let slot = self.slots.allocate().ok_or_else(|| {
            AgentError::Refused(format!(
                "the switch has all {} ports",
                vswitch_common::MAX_PORTS - 1
            ))
        })?;
        transaction.push(Step::Slot(slot));
        self.maps.reset_stats(slot)?;
        let mut created = Journal::default();
        let result = self.create_port(spec, &mut created).await;
        transaction.push(Step::Devices(created));
        let (ifindex, peer) = result?;
        let port = Port {
            spec: spec.clone(),
            ifindex,
            slot,
        };
        let egress = self.egress()?;
        self.maps.set_port(ifindex, port.config(), &egress)?;
        transaction.push(Step::PortMaps(ifindex));
        let program = self.attach(spec, ifindex)?;
        transaction.push(Step::Attachment(program));
        if spec.hook == Hook::Xdp {
            self.stub_every_peer(transaction).await?;
        }
        let stub = match (&spec.kind, peer) {
            (PortKind::Veth { netns, .. }, Some(peer))
                if spec.hook == Hook::Xdp || self.has_xdp_port() =>
            {
                let pin = self.link_pin(&spec.name, LinkRole::Pass);
                Some(self.programs.attach_pass_in(netns, peer, &pin)?)
            }
            _ => None,
        };
        self.offloads
            .apply(&spec.name, ifindex, spec.hook, offload, port.config())
            .await?;
        transaction.push(Step::Offload(ifindex));
        self.ports.push(port);
        transaction.push(Step::Listed(spec.name.clone()));
        self.write_flood_sets(transaction)?;
        let created = transaction.take_devices();
        let program = transaction.take_attachment();
        Ok(Attached {
            program,
            stub,
            created,
        })
    }

    /// Whether any port, or the one being added, runs the XDP program.
    fn has_xdp_port(&self) -> bool {
        self.ports.iter().any(|port| port.spec.hook == Hook::Xdp)
    }

    /// Attaches the pass-through program to the veth peers that lack it, so that native XDP
    /// redirects into them are delivered (the first XDP port needs it on every veth).
    async fn stub_every_peer(&mut self, transaction: &mut Transaction) -> Result<(), AgentError> {
        let pending: Vec<(String, String)> = self
            .ports
            .iter()
            .filter(|port| {
                self.attached
                    .get(&port.spec.name)
                    .is_some_and(|attached| attached.stub.is_none())
            })
            .filter_map(|port| match &port.spec.kind {
                PortKind::Veth { netns, .. } => Some((port.spec.name.clone(), netns.clone())),
                PortKind::Existing => None,
            })
            .collect();
        for (name, netns) in pending {
            let peer = Links::connect_in(&netns)?.require(PEER_NAME).await?;
            let pin = self.link_pin(&name, LinkRole::Pass);
            let stub = self.programs.attach_pass_in(&netns, peer, &pin)?;
            if let Some(attached) = self.attached.get_mut(&name) {
                attached.stub = Some(stub);
                transaction.push(Step::Stub(name));
            }
        }
        Ok(())
    }

    /// Changes a port's VLANs, learning or offload in place (same interface, same hook).
    async fn update_port(&mut self, spec: PortSpec, config: &Config) -> Result<(), AgentError> {
        let Some(position) = self
            .ports
            .iter()
            .position(|port| port.spec.name == spec.name)
        else {
            return Err(AgentError::Refused(format!(
                "switch has no port {}",
                spec.name
            )));
        };
        let old = self.ports[position].clone();
        let mut transaction = Transaction::default();
        let result = async {
            let mut port = old.clone();
            port.spec = spec.clone();
            let egress = self.egress()?;
            self.maps.set_port(port.ifindex, port.config(), &egress)?;
            transaction.push(Step::RestorePort(old.clone()));
            self.ports[position] = port;
            self.write_flood_sets(&mut transaction)?;
            if old.spec.offload != spec.offload {
                self.offloads.remove(old.ifindex).await;
                self.offloads
                    .apply(
                        &spec.name,
                        old.ifindex,
                        spec.hook,
                        config.port_offload(&spec),
                        self.ports[position].config(),
                    )
                    .await?;
            }
            Ok::<(), AgentError>(())
        }
        .await;
        match result {
            Ok(()) => {
                transaction.commit();
                Ok(())
            }
            Err(error) => {
                self.rollback(transaction).await;
                Err(error)
            }
        }
    }

    /// Removes port `name`: first from the flood sets, then its program and map entries and
    /// FDB entries, then its offload and the devices it created, and its counter slot.
    async fn remove_port_unpublished(&mut self, name: &str) -> Result<(), AgentError> {
        let Some(position) = self.ports.iter().position(|port| port.spec.name == name) else {
            return Ok(());
        };
        let port = self.ports.remove(position);
        let mut transaction = Transaction::default();
        transaction.push(Step::Unlisted(position, port.clone()));
        if let Err(error) = self.write_flood_sets(&mut transaction) {
            self.rollback(transaction).await;
            return Err(error);
        }
        transaction.commit();
        // Past this point nothing floods to the port and nothing is undone: each step below
        // takes away part of a port that no longer receives frames, and failures are reported.
        let mut failures = Vec::new();
        let attached = self.attached.remove(name);
        if let Some(mut attached) = attached {
            for attachment in [attached.program, attached.stub].into_iter().flatten() {
                if let Err(error) = self.programs.detach(attachment) {
                    log::debug!("port {name}: {error}");
                }
            }
            for error in attached.created.undo(&self.links).await {
                failures.push(error.to_string());
            }
        }
        if let Err(error) = self.maps.remove_port(port.ifindex) {
            failures.push(error.to_string());
        }
        self.offloads.remove(port.ifindex).await;
        self.slots.release(port.slot);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(AgentError::Refused(format!(
                "port {name} left the switch, but: {}",
                failures.join("; ")
            )))
        }
    }

    /// Replaces the flood set of every VLAN whose members changed, recording the old sets.
    fn write_flood_sets(&mut self, transaction: &mut Transaction) -> Result<(), AgentError> {
        let wanted = flood_sets(&self.ports);
        let mut vlans: Vec<u16> = wanted.keys().copied().collect();
        for port in &self.ports {
            vlans.extend(port.spec.vlan.members());
        }
        vlans.extend(transaction.unlisted_vlans());
        vlans.sort_unstable();
        vlans.dedup();
        for vlan in vlans {
            let new = wanted.get(&vlan).copied().unwrap_or(FloodSet::EMPTY);
            let old = self.maps.flood_set(vlan);
            if old.unwrap_or(FloodSet::EMPTY) == new {
                continue;
            }
            self.maps.set_flood(vlan, new)?;
            transaction.push(Step::Flood(vlan, old));
        }
        Ok(())
    }

    /// Undoes a failed transaction's steps, newest first; failures are logged.
    async fn rollback(&mut self, transaction: Transaction) {
        for step in transaction.into_undo() {
            let result: Result<(), AgentError> = match step {
                Step::Slot(slot) => {
                    self.slots.release(slot);
                    Ok(())
                }
                Step::Devices(mut created) => {
                    for error in created.undo(&self.links).await {
                        log::warn!("rolling back: {error}");
                    }
                    Ok(())
                }
                Step::PortMaps(ifindex) => self.maps.remove_port(ifindex).map_err(Into::into),
                Step::RestorePort(port) => {
                    let restored = self.egress().and_then(|egress| {
                        self.maps.set_port(port.ifindex, port.config(), &egress)
                    });
                    if let Some(current) = self
                        .ports
                        .iter_mut()
                        .find(|current| current.spec.name == port.spec.name)
                    {
                        *current = port;
                    }
                    restored.map_err(Into::into)
                }
                Step::Attachment(attachment) => {
                    self.programs.detach(attachment).map_err(Into::into)
                }
                Step::Stub(name) => match self
                    .attached
                    .get_mut(&name)
                    .and_then(|attached| attached.stub.take())
                {
                    Some(stub) => self.programs.detach(stub).map_err(Into::into),
                    None => Ok(()),
                },
                Step::Offload(ifindex) => {
                    self.offloads.remove(ifindex).await;
                    Ok(())
                }
                Step::Listed(name) => {
                    self.ports.retain(|port| port.spec.name != name);
                    Ok(())
                }
                Step::Unlisted(position, port) => {
                    self.ports.insert(position.min(self.ports.len()), port);
                    Ok(())
                }
                Step::Flood(vlan, old) => self
                    .maps
                    .set_flood(vlan, old.unwrap_or(FloodSet::EMPTY))
                    .map_err(Into::into),
            };
            if let Err(error) = result {
                log::warn!("rolling back: {error}");
            }
        }
    }

    /// Creates (or finds) the port's interface, recording what it created in `created`.
    /// Returns its ifindex and, for a veth, the peer's ifindex inside the namespace.
    async fn create_port(
        &mut self,
        spec: &PortSpec,
        created: &mut Journal,
    ) -> Result<(u32, Option<u32>), AgentError> {
        let PortKind::Veth {
            netns: ns,
            addresses,
        } = &spec.kind
        else {
            let ifindex = self.links.require(&spec.name).await?;
            self.links.set_up(ifindex).await?;
            return Ok((ifindex, None));
        };
        if !netns::exists(ns) {
            netns::create(ns)?;
            created.record(Created::Netns(ns.clone()));
        }
        let ns_file = netns::open(ns)?;
        let ifindex = self
            .links
            .create_veth(&spec.name, &ns_file, PEER_NAME)
            .await?;
        created.record(Created::Link(spec.name.clone()));
        let inside = Links::connect_in(ns)?;
        let peer = inside.require(PEER_NAME).await?;
        if let Some(lo) = inside.index("lo").await? {
            inside.set_up(lo).await?;
        }
        for (address, prefix) in addresses {
            inside.add_address(peer, *address, *prefix).await?;
        }
        inside.set_up(peer).await?;
        self.links.set_up(ifindex).await?;
        Ok((ifindex, Some(peer)))
    }

    /// Writes the instance record that the `show` commands read.
    fn publish(&self) -> Result<(), StateError> {
        InstanceState {
            pid: std::process::id(),
            layout: state::LAYOUT,
            maps: self.map_ids.clone(),
            ports: self
                .ports
                .iter()
                .map(|port| {
                    let mut record = port.record();
                    record.live = self.live_ports.contains(&port.spec.name);
                    record.created = self
                        .attached
                        .get(&port.spec.name)
                        .map(|attached| attached.created.entries().to_vec())
                        .unwrap_or_default();
                    record.datapath = self.offloads.datapath(port.ifindex);
                    record.offload =
                        self.offloads
                            .offloaded(port.ifindex)
                            .map(|offloaded| OffloadRecord {
                                hook: offloaded.hook(),
                                map_id: offloaded.map_id(),
                            });
                    record
                })
                .collect(),
        }
        .write(&self.name)
    }

    /// Forgets the port whose interface was deleted, e.g. with its container's namespace.
    async fn interface_removed(&mut self, ifindex: u32) -> Result<(), AgentError> {
        let Some(name) = self
            .ports
            .iter()
            .find(|port| port.ifindex == ifindex)
            .map(|port| port.spec.name.clone())
        else {
            return Ok(());
        };
        log::warn!("port {name} disappeared; removing it from the switch");
        self.remove_port_unpublished(&name).await?;
        self.publish()?;
        Ok(())
    }

    /// Runs until SIGINT or SIGTERM: ages the FDB, drops ports whose interface goes away, and
    /// on SIGHUP re-reads `config_path` and applies the difference.
    pub async fn run_until_signal(
        &mut self,
        config_path: Option<PathBuf>,
    ) -> Result<(), AgentError> {
        use tokio::signal::unix::{SignalKind, signal};
        let signal_error = |source| NetlinkError::Io {
            what: "installing signal handlers".to_string(),
            source,
        };
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let mut hangup = signal(SignalKind::hangup()).map_err(signal_error)?;
        let period = Duration::from_nanos(self.ageing_ns / 2)
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut ticker = tokio::time::interval(period);
        let mut events = LinkEvents::subscribe()?;
        let mut control = self.control.take();
        loop {
            tokio::select! {
                Some(request) = next_request(&mut control) => {
                    let answer = self.serve(request.command(), config_path.as_deref()).await;
                    if let Err(failure) = &answer {
                        log::warn!("request refused: {}", failure.message);
                    }
                    request.answer(answer);
                }
                _ = interrupt.recv() => return Ok(()),
                _ = terminate.recv() => return Ok(()),
                _ = hangup.recv() => match self.reload_file(config_path.as_deref()).await {
                    Ok(summary) => log::info!("SIGHUP: {summary}"),
                    Err(error) => log::error!("SIGHUP: reload refused: {error}"),
                },
                Some(ifindex) = events.next_removed() => self.interface_removed(ifindex).await?,
                _ = ticker.tick() => {
                    let removed = ageing::sweep(&mut self.maps, self.ageing_ns)?;
                    if removed > 0 {
                        log::debug!("aged out {removed} FDB entries");
                    }
                }
            }
        }
    }

    /// Re-reads the config file (the built-in demo without one) and applies the difference.
    pub async fn reload_file(
        &mut self,
        path: Option<&std::path::Path>,
    ) -> Result<String, AgentError> {
        let mut config = match path {
            Some(path) => Config::load(path)?,
            None => Config::demo(),
        };
        config.name = self.name.clone();
        self.reload(&config).await
    }

    /// Stops the agent. Without `keep`, removes everything the switch made: programs, pins,
    /// record, and the devices and namespaces it created. With `keep`, leaves all of it: the
    /// programs stay attached through their pinned links and forwarding goes on, until the next
    /// `vswitch run` of this instance adopts it.
    pub async fn stop(mut self, keep: bool) {
        self.teardown(keep).await;
    }

    async fn teardown(&mut self, keep: bool) {
        if keep {
            return;
        }
        InstanceState::remove(&self.name);
        self.offloads.detach_all().await;
        let attached = std::mem::take(&mut self.attached);
        for (name, mut attached) in attached.into_iter().rev() {
            for attachment in [attached.program, attached.stub].into_iter().flatten() {
                if let Err(error) = self.programs.detach(attachment) {
                    log::debug!("port {name}: {error}");
                }
            }
            for error in attached.created.undo(&self.links).await {
                log::warn!("cleaning up: {error}");
            }
        }
        bpffs::remove(&state::pin_dir(&self.name));
    }
}

/// The next request on the control socket; never, without one.
async fn next_request(control: &mut Option<ControlServer>) -> Option<ControlRequest> {
    match control {
        Some(control) => control.next().await,
        None => std::future::pending().await,
    }
}

/// The programs a port has a pinned link for.
#[derive(Clone, Copy, Debug)]
enum LinkRole {
    /// The TCX ingress program.
    Tc,
    /// The XDP ingress program.
    Xdp,
    /// The pass-through program on the veth peer.
    Pass,
}

impl LinkRole {
    const ALL: [Self; 3] = [Self::Tc, Self::Xdp, Self::Pass];

    /// The directory of its pins under `links/`.
    const fn directory(self) -> &'static str {
        match self {
            Self::Tc => "tc",
            Self::Xdp => "xdp",
            Self::Pass => "pass",
        }
    }
}
