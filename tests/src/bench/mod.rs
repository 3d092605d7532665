//! The benchmark harness behind `cargo xtask bench`: vswitch side by side with the Linux
//! bridge, macvlan and the plain XDP and TCX forwarders, each built in namespaces of its own
//! (`vb…`, removed on drop), measured in the same run, alternating, several times.
//!
//! One concept per module: [`part`] names what `--only` picks, [`topology`] builds the peers,
//! [`trafficgen`] and [`stackgen`] generate, [`metrics`] measures once, [`scale`], [`live`],
//! [`branches`], [`programs`] and [`cluster`] cover vswitch alone, [`report`] and [`chart`]
//! present.

pub mod branches;
pub mod chart;
pub mod cluster;
pub mod cni;
pub mod cpu;
pub mod environment;
pub mod link;
pub mod live;
pub mod metrics;
pub mod part;
pub mod programs;
pub mod progress;
pub mod report;
pub mod samples;
pub mod scale;
pub mod stackgen;
pub mod topology;
pub mod trafficgen;
pub mod udp;
pub mod vxlan;

use std::time::Duration;

use metrics::{BROADCAST, Rate};
use part::Part;
use progress::Progress;
use report::{Metric, Report, Row, Series};
use samples::Samples;
use topology::{Peer, Source, Topology};

/// Sinks of the flood measurement.
pub const FLOOD_SINKS: usize = 4;
/// Hosts of the fully meshed measurement, each a generator and a sink.
pub const MESH_HOSTS: usize = 4;
const _: () = assert!(MESH_HOSTS == 4, "Metric::Mesh's label says four hosts");
/// Static FDB entries of the small and the large table.
const FDB_SMALL: u32 = 1_000;
const FDB_LARGE: u32 = 1_000_000;
/// Static entries whose install time is measured.
const INSTALL: u32 = 100_000;
/// New source addresses per address learning measurement.
const LEARNING: u32 = 1 << 18;

/// How long and how often to measure.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Repetitions of every measurement.
    pub reps: usize,
    /// Switch sizes (ports, one of them the sender) of the broadcast forwarding rate (RFC 2889,
    /// 5.8), beyond the flood's 5. A VLAN floods to at most 64 ports.
    pub broadcast_ports: &'static [usize],
    /// Repetitions of the headline rates (64 B, XDP- and stack-sourced), whose spread the
    /// targets are judged against.
    pub headline_reps: usize,
    /// Generator run per rate sample.
    pub rate: Duration,
    /// iperf3 run.
    pub tcp_secs: u32,
    /// Pings per latency sample.
    pub pings: u32,
    /// Port counts of the start-up measurement.
    pub startup_ports: &'static [usize],
    /// `BPF_PROG_TEST_RUN` repetitions per branch.
    pub test_runs: u32,
    /// Ports of the switch that live changes are measured on.
    pub live_ports: usize,
    /// Port additions (and reloads) per live-change measurement.
    pub live_changes: usize,
    /// The parts to run; empty: every part.
    pub only: Vec<Part>,
}

impl Plan {
    /// The full benchmark (3 repetitions, 10 s of TCP), or the quick smoke run.
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                reps: 1,
                broadcast_ports: &[16],
                headline_reps: 1,
                rate: Duration::from_millis(500),
                tcp_secs: 2,
                pings: 50,
                startup_ports: &[1, 16],
                test_runs: 10_000,
                live_ports: 16,
                live_changes: 3,
                only: Vec::new(),
            }
        } else {
            Self {
                reps: 3,
                broadcast_ports: &[16, 64],
                headline_reps: 5,
                rate: Duration::from_secs(2),
                tcp_secs: 10,
                pings: 500,
                startup_ports: &[1, 16, 64],
                test_runs: 200_000,
                live_ports: 64,
                live_changes: 20,
                only: Vec::new(),
            }
        }
    }

    /// Whether this run measures `part`.
    pub fn runs(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}

/// Peer indexes for repetition `rep`: every peer once, starting one later each time.
fn order(peers: usize, rep: usize) -> impl Iterator<Item = usize> {
    (0..peers).map(move |n| (n + rep) % peers)
}

fn mpps(pps: f64) -> f64 {
    pps / 1e6
}

/// The peers of each part of a run, and how many steps each part takes.
struct Peers {
    /// Unicast peers of the stack-sourced rows.
    stack: Vec<Peer>,
    /// Unicast peers of the XDP-sourced rows.
    xdp: Vec<Peer>,
    /// Peers of the flood rows.
    flooding: Vec<Peer>,
    /// Peers of the ping rows.
    ip: Vec<Peer>,
    /// Peers of the TCP rows.
    tcp: Vec<Peer>,
    /// Peers of the fully meshed rows.
    meshed: Vec<Peer>,
}

impl Peers {
    fn new() -> Self {
        let available: Vec<Peer> = Peer::ALL
            .into_iter()
            .filter(|peer| *peer != Peer::BridgeNf || environment::br_netfilter())
            .collect();
        let stack: Vec<Peer> = available.iter().copied().filter(|p| p.unicast()).collect();
        let ip: Vec<Peer> = stack.iter().copied().filter(|p| p.carries_ip()).collect();
        Self {
            xdp: stack.iter().copied().filter(|p| p.takes_xdp()).collect(),
            flooding: available.iter().copied().filter(|p| p.floods()).collect(),
            tcp: ip
                .iter()
                .copied()
                .filter(|p| *p != Peer::XdpRedirect)
                .collect(),
            meshed: available
                .iter()
                .copied()
                .filter(|p| MESHED.contains(p))
                .collect(),
            ip,
            stack,
        }
    }

    /// Steps of `part` in a run of `plan`; each part builds, then measures per repetition.
    fn steps(&self, plan: &Plan, part: Part) -> usize {
        let reps = plan.reps;
        match part {
            Part::Xdp => self.xdp.len() * (1 + plan.headline_reps),
            Part::Flood => self.flooding.len() * (1 + reps),
            Part::Broadcast => plan.broadcast_ports.len() * BROADCASTERS.len() * (1 + reps),
            Part::Stack => {
                self.stack.len() * (1 + plan.headline_reps)
                    + reps * (self.ip.len() + self.tcp.len())
            }
            Part::Mesh => self.meshed.len() * (1 + reps),
            // Built; per repetition the two tables' rates, address learning, the install and
            // the start-ups; memory and caching capacity once.
            Part::Scale => 3 + reps * (4 + plan.startup_ports.len()),
            Part::Live | Part::Programs => 1,
            Part::Branches => reps,
            Part::Vxlan => vxlan::Encapsulator::ALL.len(),
            Part::Cluster => cluster::STEPS,
        }
    }
}

/// Runs the benchmark.
pub fn run(plan: &Plan, quick: bool) -> Report {
    let mut report = Report {
        environment: environment::describe(),
        load: (environment::load(), f64::NAN),
        quick,
        ..Report::default()
    };
    let peers = Peers::new();
    if !environment::br_netfilter() {
        report.notes.push(
            "bridge netfilter is absent from this kernel: the bridge is measured without it only"
                .to_string(),
        );
    }
    let reps = plan.reps;
    let total = Part::ALL
        .into_iter()
        .filter(|part| plan.runs(*part))
        .map(|part| peers.steps(plan, part))
        .sum();
    let mut progress = Progress::new(total);

    if plan.runs(Part::Xdp) {
        let mut built = build(&peers.xdp, Source::Xdp, 1, &mut progress);
        for rep in 0..plan.headline_reps {
            for n in order(built.len(), rep) {
                let topology = &mut built[n];
                let dst = topology.sinks[0].mac;
                let rate = metrics::xdp_rate(topology, dst, plan.rate);
                record_rate(
                    &mut report,
                    Metric::XdpRate,
                    topology.peer,
                    rate,
                    &mut progress,
                );
            }
        }
    }

    if plan.runs(Part::Flood) {
        let mut built = build(&peers.flooding, Source::Xdp, FLOOD_SINKS, &mut progress);
        for rep in 0..reps {
            for n in order(built.len(), rep) {
                let topology = &mut built[n];
                let rate = metrics::xdp_rate(topology, BROADCAST, plan.rate);
                record_rate(
                    &mut report,
                    Metric::Flood,
                    topology.peer,
                    rate,
                    &mut progress,
                );
            }
        }
    }
    if plan.runs(Part::Broadcast) {
        broadcast_rows(plan, &mut report, &mut progress);
    }
    if plan.runs(Part::Stack) {
        stack_rows(plan, &peers, &mut report, &mut progress);
    }
    if plan.runs(Part::Mesh) {
        mesh_rows(plan, &peers.meshed, &mut report, &mut progress);
    }
    if plan.runs(Part::Scale) {
        scale_and_startup(plan, &mut report, &mut progress);
    }
    if plan.runs(Part::Live) {
        live_changes(plan, &mut report, &mut progress);
    }
    if plan.runs(Part::Branches) {
        let mut costs: Vec<Samples> = vec![Samples::default(); branches::BRANCHES.len()];
        for _ in 0..reps {
            for (cost, ns) in costs.iter_mut().zip(branches::measure(plan.test_runs)) {
                cost.push(ns);
            }
            progress.step("BPF_PROG_TEST_RUN per branch", "done");
        }
        report.branches = branches::BRANCHES
            .iter()
            .zip(costs)
            .map(|(branch, values)| Series {
                name: branch.name.to_string(),
                unit: "ns",
                values,
            })
            .collect();
    }
    if plan.runs(Part::Programs) {
        report.programs = programs::measure();
        progress.step(
            "program sizes",
            &format!("{} programs", report.programs.len()),
        );
    }
    if plan.runs(Part::Vxlan) {
        vxlan_rows(plan, &mut report, &mut progress);
    }
    if plan.runs(Part::Cluster) {
        cluster::rows(cluster::Plan::new(quick), &mut report, &mut progress);
    }
    report.load.1 = environment::load();
    report
}

/// The stack-sourced rows: the headline rate, and for the first repetitions ping and TCP.
fn stack_rows(plan: &Plan, peers: &Peers, report: &mut Report, progress: &mut Progress) {
    let built = build(&peers.stack, Source::Stack, 1, progress);
    for rep in 0..plan.headline_reps {
        for n in order(built.len(), rep) {
            let topology = &built[n];
            let peer = topology.peer;
            let rate = metrics::stack_rate(topology, plan.rate);
            record_rate(report, Metric::StackRate, peer, rate, progress);
            if rep >= plan.reps {
                continue;
            }
            if peers.ip.contains(&peer) {
                let rtts = metrics::ping(topology, plan.pings);
                let (p50, p99) = (rtts.quantile(0.5), rtts.quantile(0.99));
                record(report, Metric::PingP50, peer, p50);
                record(report, Metric::PingP99, peer, p99);
                progress.step(
                    &format!("ping, {}", peer.label()),
                    &format!("p50 {p50:.0} µs, p99 {p99:.0} µs"),
                );
            }
            if peers.tcp.contains(&peer) {
                let (gbits, result) = match metrics::tcp(topology, plan.tcp_secs) {
                    Ok(gbits) => (gbits, format!("{gbits:.2} Gbit/s")),
                    Err(error) => (0.0, error),
                };
                record(report, Metric::Tcp, peer, gbits);
                progress.step(&format!("TCP, {}", peer.label()), &result);
            }
        }
    }
    report.notes.push(
        "TCP through the plain XDP redirect is not measured: XDP loses CHECKSUM_PARTIAL and GSO, \
         so with default offloads every segment arrives with a bad checksum (facts.md)"
            .to_string(),
    );
    report.notes.push(
        "ping and TCP through the vswitch VLAN variant are not measured: its sinks sit on trunks \
         and this kernel has no 8021q to untag"
            .to_string(),
    );
}

/// The peers whose fully meshed forwarding rate is measured.
const MESHED: [Peer; 4] = [Peer::BridgeNf, Peer::Bridge, Peer::Macvlan, Peer::Vswitch];

/// Fully meshed forwarding (RFC 2889, 5.3) on [`MESH_HOSTS`] hosts: all of them sending to all
/// the others at once, stack-sourced.
fn mesh_rows(plan: &Plan, meshed: &[Peer], report: &mut Report, progress: &mut Progress) {
    let mut built = build(meshed, Source::Stack, MESH_HOSTS - 1, progress);
    for topology in &mut built {
        topology.sink_at_generator();
    }
    for rep in 0..plan.reps {
        for n in order(built.len(), rep) {
            let rate = metrics::mesh_rate(&built[n], plan.rate);
            record_rate(report, Metric::Mesh, built[n].peer, rate, progress);
        }
    }
    report.notes.push(format!(
        "fully meshed: {MESH_HOSTS} hosts on one switch, each sending stack-sourced 64-byte \
         frames to the other {} in turn from a thread of its own while it receives theirs; the \
         rate is what all of them received together. On a machine with fewer cores than hosts \
         the generators compete with each other and with the switch for the cores, so the \
         aggregate is bounded by the CPU: compare the per-busy-core column",
        MESH_HOSTS - 1
    ));
}

/// Series names of the VXLAN measurement, which the targets look up: `{rate|tcp}` × encapsulator.
pub fn vxlan_series(tcp: bool, encapsulator: vxlan::Encapsulator) -> String {
    let what = if tcp {
        "VXLAN TCP, iperf3"
    } else {
        "VXLAN 64 B, stack-sourced"
    };
    format!("{what}, {}", encapsulator.label())
}

fn vxlan_rows(plan: &Plan, report: &mut Report, progress: &mut Progress) {
    let measured = vxlan::measure(plan.reps, plan.rate, plan.tcp_secs);
    for (n, encapsulator) in vxlan::Encapsulator::ALL.into_iter().enumerate() {
        progress.step(
            &format!("VXLAN, {}", encapsulator.label()),
            &format!(
                "{:.3} Mpps, {:.2} Gbit/s",
                measured.rate[n].median(),
                measured.tcp[n].median()
            ),
        );
        for (tcp, unit, values) in [
            (false, "Mpps", measured.rate[n].clone()),
            (true, "Gbit/s", measured.tcp[n].clone()),
        ] {
            report.scale.push(Series {
                name: vxlan_series(tcp, encapsulator),
                unit,
                values,
            });
        }
    }
    report.notes.push(
        "VXLAN: two hosts on an IPv4 underlay; host 1 encapsulates with vswitch or with the \
         kernel's vxlan device in a Linux bridge, host 2 is always the kernel's; 64-byte UDP \
         frames from host 1's endpoint's stack, counted at host 2's endpoint"
            .to_string(),
    );
}

/// Series names of the live-change measurement, which the targets look up.
pub const LIVE_ADD: &str = "add one port to a running switch";
/// See [`LIVE_ADD`].
pub const LIVE_RELOAD: &str = "reload that changes one port";
/// See [`LIVE_ADD`].
pub const LIVE_LOST: &str = "pings lost by untouched hosts during live changes";

fn live_changes(plan: &Plan, report: &mut Report, progress: &mut Progress) {
    let measured = live::measure(plan.live_ports, plan.live_changes);
    progress.step(
        &format!(
            "live changes on {} ports ({} adds, {} reloads)",
            plan.live_ports, plan.live_changes, plan.live_changes
        ),
        &format!(
            "add {:.1} ms, reload {:.1} ms, {} of {} pings lost",
            measured.add_ms.median(),
            measured.reload_ms.median(),
            measured.lost,
            measured.sent
        ),
    );
    report.notes.push(format!(
        "live changes: on a switch with {} ports, {} port adds and {} reloads (each flipping \
         one port's VLAN), through the control socket, while two untouched hosts ping every 2 ms \
         ({} pings sent)",
        plan.live_ports, plan.live_changes, plan.live_changes, measured.sent
    ));
    for (name, unit, values) in [
        (LIVE_ADD, "ms", measured.add_ms),
        (LIVE_RELOAD, "ms", measured.reload_ms),
        (LIVE_LOST, "pings", Samples(vec![measured.lost as f64])),
    ] {
        report.scale.push(Series {
            name: name.to_string(),
            unit,
            values,
        });
    }
}

fn scale_and_startup(plan: &Plan, report: &mut Report, progress: &mut Progress) {
    let mut tables = [
        (FDB_SMALL, scale::with_fdb(FDB_SMALL), Samples::default()),
        (FDB_LARGE, scale::with_fdb(FDB_LARGE), Samples::default()),
    ];
    progress.step("vswitch with 1k and 1M FDB entries", "built");
    for rep in 0..plan.reps {
        for n in order(tables.len(), rep) {
            let (entries, topology, values) = &mut tables[n];
            let dst = topology.sinks[0].mac;
            let rate = mpps(metrics::xdp_rate(topology, dst, plan.rate).pps);
            values.push(rate);
            progress.step(
                &format!("XDP-sourced, vswitch, {entries} FDB entries"),
                &format!("{rate:.3} Mpps"),
            );
        }
    }
    memory_rows(&tables, report);
    progress.step("memory at 1k and 1M FDB entries", "measured");
    learning_rows(plan, &mut tables[0].1, report, progress);
    capacity_rows(&mut tables[1].1, report, progress);
    for (entries, _, values) in tables {
        let name = if entries == FDB_SMALL { "1k" } else { "1M" };
        report.scale.push(Series {
            name: format!("FDB {name} entries, XDP-sourced"),
            unit: "Mpps",
            values,
        });
    }
    let empty = scale::EmptySwitch::start();
    let mut install = Samples::default();
    for rep in 0..plan.reps {
        let took = empty.install(rep as u32 * INSTALL, INSTALL).as_secs_f64() * 1e3;
        install.push(took);
        progress.step("install 100k static FDB entries", &format!("{took:.0} ms"));
    }
    drop(empty);
    report.scale.push(Series {
        name: "install 100k static FDB entries".to_string(),
        unit: "ms",
        values: install,
    });
    let mut startup: Vec<Samples> = vec![Samples::default(); plan.startup_ports.len()];
    for _ in 0..plan.reps {
        for (ports, values) in plan.startup_ports.iter().zip(&mut startup) {
            let took = scale::startup(*ports).as_secs_f64() * 1e3;
            values.push(took);
            progress.step(
                &format!("agent start-up, {ports} ports"),
                &format!("{took:.0} ms"),
            );
        }
    }
    for (ports, values) in plan.startup_ports.iter().zip(startup) {
        report.scale.push(Series {
            name: format!("agent start-up, {ports} ports"),
            unit: "ms",
            values,
        });
    }
}

/// The peers whose broadcast forwarding rate is measured against the port count.
const BROADCASTERS: [Peer; 3] = [Peer::Bridge, Peer::XdpBroadcast, Peer::Vswitch];

/// Series name of a broadcast forwarding rate.
pub fn broadcast_series(ports: usize, peer: Peer) -> String {
    format!(
        "broadcast on {ports} ports (to {}), XDP-sourced, {}",
        ports - 1,
        peer.label()
    )
}

/// Broadcast forwarding rate (RFC 2889, 5.8) as the port count grows: frames delivered to all
/// the other ports together, on the bridge, the plain XDP broadcast and vswitch.
fn broadcast_rows(plan: &Plan, report: &mut Report, progress: &mut Progress) {
    for &ports in plan.broadcast_ports {
        let mut built = build(&BROADCASTERS, Source::Xdp, ports - 1, progress);
        let mut values = vec![Samples::default(); built.len()];
        for rep in 0..plan.reps {
            for n in order(built.len(), rep) {
                let rate = mpps(metrics::xdp_rate(&mut built[n], BROADCAST, plan.rate).pps);
                values[n].push(rate);
                progress.step(
                    &format!("broadcast on {ports} ports, {}", built[n].peer.label()),
                    &format!("{rate:.3} Mpps"),
                );
            }
        }
        for (peer, values) in BROADCASTERS.into_iter().zip(values) {
            report.scale.push(Series {
                name: broadcast_series(ports, peer),
                unit: "Mpps",
                values,
            });
        }
    }
}

/// The agent's RSS with each table, and the kernel memory one more FDB entry takes (the FDB
/// map's memlock, between the two tables).
fn memory_rows(tables: &[(u32, Topology, Samples)], report: &mut Report) {
    let mut memory = Vec::new();
    for (entries, topology, _) in tables {
        let name = if *entries == FDB_SMALL { "1k" } else { "1M" };
        let switch = topology.switch().expect("vswitch runs a switch");
        let rss = scale::agent_rss(switch.name()) as f64 / f64::from(1 << 20);
        report.scale.push(Series {
            name: format!("agent RSS, {name} FDB entries"),
            unit: "MiB",
            values: Samples(vec![rss]),
        });
        memory.push((f64::from(*entries), scale::fdb_memory(switch.name()) as f64));
    }
    if let [(small, small_bytes), (large, large_bytes)] = memory[..] {
        report.scale.push(Series {
            name: "kernel memory per FDB entry (map memlock, 1M against 1k)".to_string(),
            unit: "bytes",
            values: Samples(vec![(large_bytes - small_bytes) / (large - small)]),
        });
    }
}

/// Address learning (RFC 2889, 5.7) on `topology`: [`LEARNING`] new addresses every
/// repetition, one frame each, at full rate.
fn learning_rows(
    plan: &Plan,
    topology: &mut Topology,
    report: &mut Report,
    progress: &mut Progress,
) {
    let mut rates = Samples::default();
    let mut lost = 0;
    for rep in 0..plan.reps {
        let learning = metrics::learning(topology, LEARNING * rep as u32, LEARNING);
        rates.push(learning.per_second / 1e6);
        lost += learning.lost;
        progress.step(
            "address learning, XDP-sourced",
            &format!(
                "{:.2} M addresses/s, {} of {} learned, {} frames lost",
                learning.per_second / 1e6,
                learning.learned,
                learning.offered,
                learning.lost
            ),
        );
    }
    report.scale.push(Series {
        name: format!("address learning rate, XDP-sourced ({lost} frames lost)"),
        unit: "M/s",
        values: rates,
    });
}

/// Address caching capacity (RFC 2889, 5.6) on `topology`, whose FDB is full: how many entries
/// it holds, and what happens to [`LEARNING`] new addresses offered at the limit.
fn capacity_rows(topology: &mut Topology, report: &mut Report, progress: &mut Progress) {
    let learning = metrics::learning(topology, 0, LEARNING);
    let name = topology.switch().expect("vswitch runs a switch").name();
    let held = scale::maps_named(name)
        .fdb_entries()
        .expect("reading the FDB")
        .len();
    progress.step(
        "address caching capacity",
        &format!(
            "{held} entries; {} new addresses: {} learned, {} frames lost",
            learning.offered, learning.learned, learning.lost
        ),
    );
    report.scale.push(Series {
        name: "address caching capacity (FDB entries when full)".to_string(),
        unit: "entries",
        values: Samples(vec![held as f64]),
    });
    report.notes.push(format!(
        "address caching capacity: with the FDB full, {} frames from new addresses were offered; \
         {} addresses were learned and {} frames lost (a full table stops learning: the frames \
         are still forwarded, and frames to the unlearned addresses are flooded)",
        learning.offered, learning.learned, learning.lost
    ));
}

fn build(peers: &[Peer], source: Source, sinks: usize, progress: &mut Progress) -> Vec<Topology> {
    peers
        .iter()
        .map(|peer| {
            let topology = Topology::build(*peer, source, sinks);
            progress.step(
                &format!("build {} ({source:?}, {sinks} sink(s))", peer.label()),
                "ok",
            );
            topology
        })
        .collect()
}

fn row(report: &mut Report, metric: Metric, peer: Peer) -> &mut Row {
    let index = match report
        .rows
        .iter()
        .position(|row| row.metric == metric && row.peer == peer)
    {
        Some(index) => index,
        None => {
            report.rows.push(Row {
                metric,
                peer,
                values: Samples::default(),
                per_core: Samples::default(),
                tx_dropped: 0,
                fewest: u64::MAX,
            });
            report.rows.len() - 1
        }
    };
    &mut report.rows[index]
}

fn record(report: &mut Report, metric: Metric, peer: Peer, value: f64) {
    row(report, metric, peer).values.push(value);
}

fn record_rate(
    report: &mut Report,
    metric: Metric,
    peer: Peer,
    rate: Rate,
    progress: &mut Progress,
) {
    let row = row(report, metric, peer);
    row.values.push(mpps(rate.pps));
    row.per_core.push(mpps(rate.per_core));
    row.tx_dropped += rate.tx_dropped;
    row.fewest = row.fewest.min(rate.fewest);
    progress.step(
        &format!("{}, {}", metric.label(), peer.label()),
        &format!(
            "{:.3} Mpps ({:.3} per busy core, {} sent)",
            mpps(rate.pps),
            mpps(rate.per_core),
            rate.sent
        ),
    );
}
