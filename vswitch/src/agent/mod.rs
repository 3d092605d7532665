//! The running switch: it keeps a desired state (the config file plus live changes) and applies
//! every change to it as a transaction of its own, on a switch that keeps forwarding.
//!
//! A transaction (adding a port, removing one, changing one, an FDB entry) records how to undo
//! each step it took; when a step fails, the steps taken so far are undone newest first, so the
//! switch is left exactly as it was and the error says which step failed. Changes never stop
//! traffic between the ports they do not touch: flood sets are replaced whole, and `PORTS` and
//! `FLOOD` are written under the barrier discipline of `datapath::barrier`.

mod adopt;
mod ageing;
pub mod bpffs;
mod cluster;
mod devices;
mod dispatch;
mod fdb;
mod loop_guard;
mod mtu;
mod pace;
pub mod pending;
mod port_changes;
mod ports;
mod reload;
mod requests;
mod slots;
mod transaction;
mod tunnels;

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

pub use ageing::{expired, monotonic_ns};
pub use ports::{Port, flood_groups, flood_sets};
use slots::Slots;
pub use tunnels::{vtep, vtep_address};

use crate::{
    config::{Config, ConfigError},
    control::{ControlError, ControlRequest, ControlServer},
    datapath::{Attachment, DatapathError, Maps, Programs},
    netlink::{Journal, LinkEvents, Links, NetlinkError, device::DeviceError},
    offload::{OffloadError, PortOffloads},
    state::{self, InstanceState, OffloadRecord, StateError},
};

/// Name of the peer interface inside a port's namespace.
pub const PEER_NAME: &str = "eth0";

/// How often the agent refreshes the tunnels' flood lists from the FDB (remote VTEPs learned
/// since) and keeps the next hops towards remote VTEPs resolved.
const TUNNEL_UPKEEP: Duration = Duration::from_secs(1);

/// How often, with `[cluster]`, the agent reads the FDB for local stations to publish
/// regardless of learning (moves between ports, ageing and deletions show up here).
const CLUSTER_PUBLISH: Duration = Duration::from_millis(100);

/// How often, with `[cluster]`, the agent looks at the datapath's count of learned stations
/// (one map lookup), to publish a new station without waiting for [`CLUSTER_PUBLISH`].
const CLUSTER_LEARNING: Duration = Duration::from_millis(5);

/// Why the switch could not start, or a change could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A device or namespace operation failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// A `[[device]]` could not be made or removed.
    #[error(transparent)]
    Device(#[from] DeviceError),
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
    /// State the agent cannot use, or a change that went only partly through (the message
    /// says what is left); a runtime failure, not the request's fault.
    #[error("{0}")]
    Failed(String),
    /// The control socket.
    #[error(transparent)]
    Control(#[from] ControlError),
}

impl AgentError {
    /// Whether the request was at fault (exit status 2) rather than the system (1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Config(_) | Self::Refused(_) => true,
            Self::Device(error) => error.is_bad_input(),
            _ => false,
        }
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
    /// `[switch] max_macs`, 0 for none.
    max_macs: u32,
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
    /// `[switch] offload` of the config: the default of existing ports added later.
    offload: crate::offload::Offload,
    /// The control socket, bound at start; the run loop takes it.
    control: Option<ControlServer>,
    /// While the agent builds the switch at start-up, flood sets are written once at the end
    /// rather than after every port: each rewrite of a VLAN's set would otherwise wait for an
    /// RCU grace period before the next (see `datapath::barrier`).
    flood_sets_deferred: bool,
    /// The VXLAN tunnels and their underlays.
    tunnels: tunnels::Tunnels,
    /// The config's `[[device]]` devices and which of them the agent created.
    devices: devices::ConfigDevices,
    /// The `[[macvlan]]` parents and their children.
    dispatch: dispatch::Dispatch,
    /// The loop guard and the ports it blocked.
    loop_guard: loop_guard::LoopGuard,
    /// `[cluster]`: the etcd session and what the other nodes published.
    cluster: Option<cluster::ClusterLink>,
}

impl Switch {
    /// Builds the switch that `config` describes in this network namespace.
    ///
    /// On failure, everything created so far is removed again.
    pub async fn start(config: &Config, log_level: u8) -> Result<Self, AgentError> {
        InstanceState::ensure_not_running(&config.name)?;
        let previous = match InstanceState::read_any(&config.name) {
            Ok(previous) if previous.layout != state::LAYOUT => {
                return Err(AgentError::Failed(format!(
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
        pending::recover(&config.name, previous.as_ref(), &links).await;
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
        let mut programs = Programs::load_pinned(log_level, &pins)?;
        let offloads = PortOffloads::new(links.clone());
        let (maps, map_ids) = Maps::take_pinned(programs.ebpf_mut(), &pins)?;
        let mut switch = Self {
            name: config.name.clone(),
            ageing_ns: config.ageing_secs * 1_000_000_000,
            max_macs: config.max_macs.unwrap_or(0),
            map_ids,
            programs,
            maps,
            ports: Vec::new(),
            attached: BTreeMap::new(),
            live_ports: Vec::new(),
            slots: Slots::new(),
            links,
            offloads,
            offload: config.offload,
            control: Some(control),
            flood_sets_deferred: true,
            tunnels: tunnels::Tunnels::default(),
            devices: devices::ConfigDevices::default(),
            dispatch: dispatch::Dispatch::default(),
            loop_guard: loop_guard::LoopGuard::new(config.loop_guard),
            cluster: None,
        };
        if let Err(error) = switch.build(config, previous).await {
            switch.teardown(false).await;
            return Err(error);
        }
        if let Some(spec) = &config.cluster
            && let Err(error) = switch.join_cluster(spec)
        {
            switch.teardown(false).await;
            return Err(error);
        }
        Ok(switch)
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
            tunnels: self.tunnel_records(),
            devices: self.devices.created().to_vec(),
            dispatch: self.dispatch_records(),
        }
        .write(&self.name)?;
        pending::clear(&self.name);
        Ok(())
    }

    /// Runs until SIGINT or SIGTERM: ages the FDB, drops ports whose interface goes away, and
    /// on SIGHUP re-reads `config_path` and applies the difference.
    pub async fn run_until_signal(
        &mut self,
        config_path: Option<PathBuf>,
    ) -> Result<(), AgentError> {
        let mut cluster = self.cluster.as_mut().and_then(|link| link.handle.take());
        let result = self.serve_until_signal(config_path, &mut cluster).await;
        if let Some(link) = self.cluster.as_mut() {
            link.handle = cluster;
        }
        result
    }

    async fn serve_until_signal(
        &mut self,
        config_path: Option<PathBuf>,
        cluster: &mut Option<crate::cluster::Cluster>,
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
        let mut upkeep = tokio::time::interval(TUNNEL_UPKEEP);
        let mut guard = tokio::time::interval(loop_guard::LOOP_GUARD_PERIOD);
        let mut publish = tokio::time::interval(CLUSTER_PUBLISH);
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut learning = tokio::time::interval(CLUSTER_LEARNING);
        learning.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pace = pace::PublishPace::default();
        let mut control = self.control.take();
        loop {
            let flood = self.cluster_flood_due();
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
                _ = upkeep.tick(), if !self.tunnels.by_vni.is_empty() => {
                    if let Err(error) = self.tunnel_upkeep().await {
                        log::warn!("keeping the tunnels' next hops: {error}");
                    }
                }
                _ = guard.tick() => {
                    if let Err(error) = self.guard_loops() {
                        log::warn!("loop guard: {error}");
                    }
                }
                Some(event) = next_cluster_event(cluster) => {
                    if let Some(session) = cluster.as_mut()
                        && let Err(error) = self.cluster_events(event, session).await
                    {
                        log::warn!("cluster: applying a change: {error}");
                    }
                }
                _ = flood_due(flood), if flood.is_some() => {
                    if let Err(error) = self.refresh_cluster_flood().await {
                        log::warn!("cluster: refreshing the flood lists: {error}");
                    }
                }
                _ = publish.tick(), if cluster.is_some() => {
                    if let Some(cluster) = cluster.as_ref() {
                        self.publish_local(cluster, &mut pace);
                    }
                }
                _ = learning.tick(), if cluster.is_some() => {
                    if let Some(cluster) = cluster.as_ref() {
                        self.publish_if_learned(cluster, &mut pace);
                    }
                }
                _ = ticker.tick() => {
                    let removed = ageing::sweep(&mut self.maps, self.ageing_ns)?;
                    if removed > 0 {
                        log::debug!("aged out {removed} FDB entries");
                    }
                }
            }
        }
    }

    /// Stops the agent. Without `keep`, removes everything the switch made: programs, pins,
    /// record, and the devices and namespaces it created. With `keep`, leaves all of it: the
    /// programs stay attached through their pinned links and forwarding goes on, until the next
    /// `vswitch run` of this instance adopts it.
    pub async fn stop(mut self, keep: bool) {
        self.teardown(keep).await;
    }

    async fn teardown(&mut self, keep: bool) {
        // Stopping for good takes this node's records out of the cluster at once; with `keep`,
        // they stay until the lease runs out, so that a restart within it loses nothing.
        if let Some(handle) = self.cluster.as_mut().and_then(|link| link.handle.take()) {
            handle.stop(!keep).await;
        }
        if keep {
            return;
        }
        InstanceState::remove(&self.name);
        self.offloads.detach_all().await;
        self.remove_all_parents().await;
        self.detach_underlays();
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
        self.devices.remove(&self.links).await;
        bpffs::remove(&state::pin_dir(&self.name));
        pending::clear(&self.name);
    }
}

/// The next request on the control socket; never, without one.
async fn next_request(control: &mut Option<ControlServer>) -> Option<ControlRequest> {
    match control {
        Some(control) => control.next().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `due` (never, without one).
async fn flood_due(due: Option<std::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// The next report of the cluster session; never, without one.
async fn next_cluster_event(
    cluster: &mut Option<crate::cluster::Cluster>,
) -> Option<crate::cluster::Event> {
    match cluster {
        Some(cluster) => cluster.next().await,
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
    /// The decapsulation program on a VXLAN underlay (pinned under the underlay's name).
    Underlay,
    /// A dispatch classifier, on a `[[macvlan]]` parent or child (pinned under its name).
    Dispatch,
    /// The dispatch XDP program on a `[[macvlan]]` parent.
    DispatchXdp,
}

impl LinkRole {
    /// The roles of a port's links.
    const ALL: [Self; 3] = [Self::Tc, Self::Xdp, Self::Pass];

    /// The directory of its pins under `links/`.
    const fn directory(self) -> &'static str {
        match self {
            Self::Tc => "tc",
            Self::Xdp => "xdp",
            Self::Pass => "pass",
            Self::Underlay => "underlay",
            Self::Dispatch => "dispatch",
            Self::DispatchXdp => "dispatch-xdp",
        }
    }
}
