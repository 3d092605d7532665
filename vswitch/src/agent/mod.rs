//! The running switch: sets up devices, programs and maps; keeps the FDB aged; tears down.

mod ageing;
pub mod bpffs;
mod ports;

use std::{path::PathBuf, time::Duration};

pub use ageing::{expired, monotonic_ns};
pub use ports::{Port, flood_sets};
use vswitch_common::{port::FloodSet, switch::SwitchConfig};

use crate::{
    config::{Config, Hook, PortKind},
    datapath::{DatapathError, Maps, Programs},
    netlink::{Created, Journal, LinkEvents, Links, NetlinkError, netns},
    offload::{OffloadError, PortOffloads},
    state::{self, InstanceState, OffloadRecord, StateError},
};

/// Name of the peer interface inside a port's namespace.
pub const PEER_NAME: &str = "eth0";

/// Why the switch could not start or run.
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
}

/// A running switch instance.
pub struct Switch {
    name: String,
    ageing_ns: u64,
    map_ids: crate::datapath::MapIds,
    programs: Programs,
    maps: Maps,
    ports: Vec<Port>,
    links: Links,
    journal: Journal,
    offloads: PortOffloads,
}

impl Switch {
    /// Builds the switch that `config` describes in this network namespace.
    ///
    /// On failure, everything created so far is removed again.
    pub async fn start(config: &Config, log_level: u8) -> Result<Self, AgentError> {
        InstanceState::ensure_not_running(&config.name)?;
        let links = Links::connect()?;
        let pins = state::pin_dir(&config.name);
        bpffs::prepare(&pins).map_err(|source| AgentError::Pins {
            path: pins.clone(),
            source,
        })?;
        let mut programs = match Programs::load(log_level) {
            Ok(programs) => programs,
            Err(error) => {
                bpffs::remove(&pins);
                return Err(error.into());
            }
        };
        let (maps, map_ids) = match Maps::take_pinned(programs.ebpf_mut(), &pins) {
            Ok(maps) => maps,
            Err(error) => {
                bpffs::remove(&pins);
                return Err(error.into());
            }
        };
        let offloads = match PortOffloads::connect() {
            Ok(offloads) => offloads,
            Err(error) => {
                bpffs::remove(&pins);
                return Err(error.into());
            }
        };
        let mut switch = Self {
            offloads,
            map_ids,
            name: config.name.clone(),
            ageing_ns: config.ageing_secs * 1_000_000_000,
            programs,
            maps,
            ports: Vec::new(),
            links,
            journal: Journal::default(),
        };
        if let Err(error) = switch.build(config).await {
            switch.teardown(false).await;
            return Err(error);
        }
        if let Err(error) = switch.publish() {
            switch.teardown(false).await;
            return Err(error.into());
        }
        Ok(switch)
    }

    /// Writes the instance record that the `show` commands read.
    fn publish(&self) -> Result<(), StateError> {
        InstanceState {
            pid: std::process::id(),
            maps: self.map_ids.clone(),
            ports: self
                .ports
                .iter()
                .map(|port| {
                    let mut record = port.record();
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
    fn port_removed(&mut self, ifindex: u32) -> Result<(), AgentError> {
        let Some(position) = self.ports.iter().position(|port| port.ifindex == ifindex) else {
            return Ok(());
        };
        let port = self.ports.remove(position);
        log::warn!(
            "port {} disappeared; removing it from the switch",
            port.spec.name
        );
        self.maps.remove_port(ifindex)?;
        let sets = flood_sets(&self.ports);
        for vid in port.spec.vlan.members() {
            self.maps
                .set_flood(vid, sets.get(&vid).copied().unwrap_or(FloodSet::EMPTY))?;
        }
        self.publish()?;
        Ok(())
    }

    async fn build(&mut self, config: &Config) -> Result<(), AgentError> {
        self.maps.set_switch(SwitchConfig {
            ageing_ns: self.ageing_ns,
        })?;
        let needs_xdp_stubs = config.ports.iter().any(|port| port.hook == Hook::Xdp);
        for (index, spec) in config.ports.iter().enumerate() {
            let ifindex = self.create_port(spec, needs_xdp_stubs).await?;
            let port = Port {
                spec: spec.clone(),
                ifindex,
                slot: index as u32 + 1,
            };
            let egress = self.programs.egress_fd()?.try_clone().map_err(|error| {
                DatapathError::program("duplicating the egress program fd")(error.into())
            })?;
            self.maps.set_port(ifindex, port.config(), &egress)?;
            match spec.hook {
                Hook::Tc => self.programs.attach_tc(&spec.name)?,
                Hook::Xdp => self.programs.attach_xdp(ifindex)?,
            }
            self.offloads
                .apply(
                    &spec.name,
                    ifindex,
                    spec.hook,
                    config.port_offload(spec),
                    port.config(),
                )
                .await?;
            self.ports.push(port);
        }
        for (vid, set) in flood_sets(&self.ports) {
            self.maps.set_flood(vid, set)?;
        }
        Ok(())
    }

    /// Creates (or finds) the port's interface and returns its ifindex.
    async fn create_port(
        &mut self,
        spec: &crate::config::PortSpec,
        xdp_stub: bool,
    ) -> Result<u32, AgentError> {
        let PortKind::Veth {
            netns: ns,
            addresses,
        } = &spec.kind
        else {
            let ifindex = self.links.require(&spec.name).await?;
            self.links.set_up(ifindex).await?;
            return Ok(ifindex);
        };
        if !netns::exists(ns) {
            netns::create(ns)?;
            self.journal.record(Created::Netns(ns.clone()));
        }
        let ns_file = netns::open(ns)?;
        let ifindex = self
            .links
            .create_veth(&spec.name, &ns_file, PEER_NAME)
            .await?;
        self.journal.record(Created::Link(spec.name.clone()));
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
        if xdp_stub {
            self.programs.attach_pass_in(ns, peer)?;
        }
        Ok(ifindex)
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loaded object, for starting the datapath logger.
    pub fn ebpf_mut(&mut self) -> &mut aya::Ebpf {
        self.programs.ebpf_mut()
    }

    /// The ports, in configuration order.
    pub fn ports(&self) -> &[Port] {
        &self.ports
    }

    /// Runs until SIGINT or SIGTERM, ageing the FDB and dropping ports whose interface goes away.
    pub async fn run_until_signal(&mut self) -> Result<(), AgentError> {
        use tokio::signal::unix::{SignalKind, signal};
        let signal_error = |source| NetlinkError::Io {
            what: "installing signal handlers".to_string(),
            source,
        };
        let mut interrupt = signal(SignalKind::interrupt()).map_err(signal_error)?;
        let mut terminate = signal(SignalKind::terminate()).map_err(signal_error)?;
        let period = Duration::from_nanos(self.ageing_ns / 2)
            .clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut ticker = tokio::time::interval(period);
        let mut events = LinkEvents::subscribe()?;
        loop {
            tokio::select! {
                _ = interrupt.recv() => return Ok(()),
                _ = terminate.recv() => return Ok(()),
                Some(ifindex) = events.next_removed() => self.port_removed(ifindex)?,
                _ = ticker.tick() => {
                    let removed = ageing::sweep(&mut self.maps, self.ageing_ns)?;
                    if removed > 0 {
                        log::debug!("aged out {removed} FDB entries");
                    }
                }
            }
        }
    }

    /// Stops the switch. Without `keep`, removes every device and namespace it created. With
    /// `keep`, leaves them in place. Either way the programs detach when the agent exits.
    pub async fn stop(mut self, keep: bool) {
        self.teardown(keep).await;
    }

    async fn teardown(&mut self, keep: bool) {
        InstanceState::remove(&self.name);
        self.offloads.detach_all().await;
        if !keep {
            for error in self.journal.undo(&self.links).await {
                log::warn!("cleaning up: {error}");
            }
        }
        bpffs::remove(&state::pin_dir(&self.name));
    }
}
