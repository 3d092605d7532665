//! Several hosts through etcd (issue 11), on the cluster suite's own lab
//! ([`ClusterLab`]: real etcd on a management network, `vswitch run` with `[cluster]`):
//!
//! - **convergence:** a container added live on host 1 sends its first frame; how long until
//!   host 3's FDB map holds the remote entry of its station, polled directly in the map;
//! - **scale:** simulated nodes publish their VTEPs and stations into etcd, exactly as agents
//!   write them (the product's own codec, each node under its own lease, batched
//!   transactions); how long until one real agent holds all of them in its FDB map.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    thread,
    time::{Duration, Instant},
};

use etcd_client::{Client, PutOptions, Txn, TxnOp};
use vswitch::cluster::{Local, Station, publish::MAX_BATCH};
use vswitch_common::fdb::FdbKey;

use super::{
    progress::Progress,
    report::{Report, Series, Target},
    samples::Samples,
    scale,
};
use crate::{
    cluster::ClusterLab,
    frames::{self, Mac},
    overlay::VNI,
    raw::RawSocket,
};

/// Series names of the convergence and scale rows, which the targets look up.
pub const CONVERGENCE_P50: &str = "cluster: new station to a remote FDB, p50";
/// See [`CONVERGENCE_P50`].
pub const CONVERGENCE_P99: &str = "cluster: new station to a remote FDB, p99";
/// See [`CONVERGENCE_P50`].
pub const SCALE_TIME: &str = "cluster: one agent takes in all simulated stations";
/// See [`CONVERGENCE_P50`].
pub const SCALE_RSS: &str = "cluster: that agent's resident memory";
/// See [`CONVERGENCE_P50`].
pub const SCALE_WRITES: &str = "cluster: etcd writes by the simulated nodes";
/// See [`CONVERGENCE_P50`]: stations of either measurement that never reached the other
/// host's FDB before the measurement gave up (the smoke check fails on any).
pub const MISSING: &str = "cluster: stations that never arrived";

/// The steps [`rows`] counts in the progress total.
pub const STEPS: usize = 2;

/// How much of the cluster to measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Containers added whose convergence is measured.
    pub containers: usize,
    /// Simulated nodes of the scale measurement.
    pub nodes: usize,
    /// Stations per simulated node.
    pub macs: usize,
}

impl Plan {
    /// 100 containers and 500 nodes × 100 stations, or 10 and 50 × 100 for the quick run.
    pub fn new(quick: bool) -> Self {
        Self {
            containers: if quick { 10 } else { 100 },
            nodes: if quick { 50 } else { 500 },
            macs: 100,
        }
    }
}

/// Measures both and adds their rows and notes to `report`.
pub fn rows(plan: Plan, report: &mut Report, progress: &mut Progress) {
    let converged = convergence(plan.containers);
    let (p50, p99) = (converged.ms.quantile(0.5), converged.ms.quantile(0.99));
    progress.step(
        &format!("cluster convergence, {} containers", plan.containers),
        &format!("p50 {p50:.1} ms, p99 {p99:.1} ms"),
    );
    report.notes.push(format!(
        "cluster convergence: three hosts with real etcd (data on disk); {} containers added \
         one by one to host 1 (`vswitch port add`), each sending one frame from a station of its \
         own; host 3's FDB map looked up from that frame on, every {:.0} µs (median; {:.1} ms at \
         worst, when the poller was not scheduled)",
        plan.containers,
        converged.gaps_us.median(),
        converged.gaps_us.max() / 1e3
    ));
    let scaled = scale(plan.nodes, plan.macs);
    progress.step(
        &format!(
            "cluster scale, {} nodes × {} stations",
            plan.nodes, plan.macs
        ),
        &format!(
            "{:.2} s ({:.2} s after the last write), {:.0} MiB, {:.0} keys/s",
            scaled.seconds,
            scaled.lag,
            scaled.rss as f64 / f64::from(1 << 20),
            scaled.writes_per_sec
        ),
    );
    report.notes.push(format!(
        "cluster scale: {} simulated nodes × {} stations ({} remote entries) written into etcd \
         under a lease each, in transactions of up to {MAX_BATCH} keys, {PUBLISHERS} nodes at a \
         time; one agent's FDB map polled every {:.0} ms at worst (by key, each node from its \
         first station not seen yet), then counted once; the agent held them all \
         {:.2} s after etcd acknowledged the last write",
        plan.nodes, plan.macs, scaled.entries, scaled.resolution_ms, scaled.lag
    ));
    for (name, unit, value) in [
        (CONVERGENCE_P50, "ms", p50),
        (CONVERGENCE_P99, "ms", p99),
        (SCALE_TIME, "s", scaled.seconds),
        (SCALE_RSS, "MiB", scaled.rss as f64 / f64::from(1 << 20)),
        (SCALE_WRITES, "keys/s", scaled.writes_per_sec),
        (
            MISSING,
            "stations",
            (converged.missing + scaled.missing) as f64,
        ),
    ] {
        report.scale.push(Series {
            name: name.to_string(),
            unit,
            values: Samples(vec![value]),
        });
    }
}

/// The targets of issue 11 on `report`: convergence p99 under 100 ms, and one agent taking in
/// every simulated station in under 5 s.
pub fn targets(report: &Report) -> [Target; 2] {
    let median = |name: &str| report.scale_series(name).map(Samples::median);
    [
        Target::on_value(
            "cluster: a new station reaches another host's FDB, p99 < 100 ms",
            median(CONVERGENCE_P99),
            |ms| format!("{ms:.1} ms"),
            |ms| ms < 100.0,
        ),
        Target::on_value(
            "cluster: one agent takes in 500 simulated nodes × 100 stations in < 5 s (quick: 50)",
            median(SCALE_TIME),
            |s| format!("{s:.2} s"),
            |s| s < 5.0,
        ),
    ]
}

/// The smoke check's complaints: stations that never arrived.
pub fn silent(report: &Report) -> Vec<String> {
    report
        .scale_series(MISSING)
        .map(Samples::max)
        .filter(|missing| *missing > 0.0)
        .map(|missing| format!("{missing} stations never reached the other host"))
        .into_iter()
        .collect()
}

/// The namespaces' tag prefix of the benchmark's labs.
const PREFIX: &str = "cb";
/// The VLAN that the lab's hosts carry over VNI 100.
const VLAN: u16 = 10;
/// How long one station may take to converge before the measurement gives up on it (and
/// records this, which fails the target).
const GIVE_UP: Duration = Duration::from_secs(5);
/// How long the agent may take to hold every simulated station before the measurement gives up.
const SCALE_GIVE_UP: Duration = Duration::from_secs(120);
/// The pause between two lookups of the convergence poll.
const POLL: Duration = Duration::from_micros(100);
/// The pause between two counts of the scale poll.
const COUNT_POLL: Duration = Duration::from_millis(20);
/// The lease of the simulated nodes, longer than any measurement.
const SIMULATED_LEASE_SECS: i64 = 600;
/// Simulated nodes publishing at the same time (each a sequence of transactions).
const PUBLISHERS: usize = 32;

/// Convergence of new stations: one sample per container.
#[derive(Debug)]
pub struct Convergence {
    /// From the first frame to the remote FDB entry on host 3, in ms.
    pub ms: Samples,
    /// The intervals between two lookups of the poll, in µs: the resolution.
    pub gaps_us: Samples,
    /// Stations that host 3 did not hold within [`GIVE_UP`].
    pub missing: usize,
}

/// Adds `containers` containers to host 1 of a three-host cluster one after the other; each
/// sends one broadcast frame from a station of its own, host 3's FDB map is polled for the
/// station's remote entry from just before the frame leaves, and the container is removed.
pub fn convergence(containers: usize) -> Convergence {
    let mut lab = ClusterLab::builder(3).prefix(PREFIX).build();
    let far = scale::maps_named(lab.switch(3).name());
    let mut measured = Convergence {
        ms: Samples::default(),
        gaps_us: Samples::default(),
        missing: 0,
    };
    for n in 0..containers {
        let port = format!("vc{n}");
        let netns = lab.add_port(1, &port, &[]);
        // A station address of its own: the container's kernel may have spoken already (IPv6
        // duplicate address detection), and time zero is this station's first frame.
        let [high, low] = u16::try_from(n)
            .expect("fewer than 65536 containers")
            .to_be_bytes();
        let station: Mac = [0x02, 0xcb, 0x00, 0x00, high, low];
        let key = FdbKey {
            mac: station,
            vlan: VLAN,
        };
        assert!(far.fdb(&key).is_none(), "host 3 knows the station already");
        let socket = RawSocket::open(&netns, "eth0");
        let frame = frames::ethernet([0xff; 6], station, 0);
        let started = Instant::now();
        socket.send(&frame);
        let mut last: Option<Instant> = None;
        let took = loop {
            let now = Instant::now();
            if let Some(last) = last {
                measured.gaps_us.push((now - last).as_secs_f64() * 1e6);
            }
            last = Some(now);
            if far.fdb(&key).is_some_and(|entry| entry.is_remote()) {
                break started.elapsed();
            }
            if started.elapsed() > GIVE_UP {
                measured.missing += 1;
                break GIVE_UP;
            }
            thread::sleep(POLL);
        };
        measured.ms.push(took.as_secs_f64() * 1e3);
        // A VLAN holds at most 64 ports: the container goes again, as containers do.
        let removed = lab.switch(1).vswitch(&["port", "del", &port]);
        assert!(removed.status.success(), "{removed:?}");
    }
    measured
}

/// What the scale measurement found.
#[derive(Debug)]
pub struct Scale {
    /// Remote entries the agent had to hold.
    pub entries: usize,
    /// Of those, the ones it did not hold when the measurement gave up.
    pub missing: usize,
    /// From the first write to the last entry in the agent's FDB map, in s.
    pub seconds: f64,
    /// The agent's resident memory then, in bytes.
    pub rss: u64,
    /// Keys written per second by the simulated nodes together.
    pub writes_per_sec: f64,
    /// From the last write's answer to the last entry in the map, in s: what the agent adds
    /// to etcd's own pace.
    pub lag: f64,
    /// The longest interval between two polls of the FDB map, in ms: the resolution.
    pub resolution_ms: f64,
}

/// `nodes` simulated nodes with `macs` stations each publish into the etcd of a one-host
/// cluster; how long until that host's agent holds all `nodes × macs` remote entries.
pub fn scale(nodes: usize, macs: usize) -> Scale {
    let lab = ClusterLab::builder(1).prefix(PREFIX).build();
    let maps = scale::maps_named(lab.switch(1).name());
    let remote = |key: &FdbKey| maps.fdb(key).is_some_and(|entry| entry.is_remote());
    let entries = nodes * macs;
    // Per node, the first of its stations not seen in the map yet: a poll looks up from there
    // on, so it costs one lookup per node plus one per new entry, not a walk of 50,000.
    let mut seen = vec![0; nodes];
    let (management, endpoint) = (lab.management.name().to_string(), lab.etcd[0].endpoint());
    let started = Instant::now();
    let publisher = thread::spawn(move || {
        vswitch::netlink::netns::run_in(&management, move || publish(&endpoint, nodes, macs))
            .expect("entering the management namespace")
    });
    let mut resolution_ms: f64 = 0.0;
    let mut last = started;
    let (seconds, held) = loop {
        for (node, seen) in seen.iter_mut().enumerate() {
            while *seen < macs && remote(&simulated_key(node, *seen)) {
                *seen += 1;
            }
        }
        let held: usize = seen.iter().sum();
        let now = Instant::now();
        resolution_ms = resolution_ms.max((now - last).as_secs_f64() * 1e3);
        last = now;
        if held >= entries {
            break (started.elapsed().as_secs_f64(), held);
        }
        if started.elapsed() > SCALE_GIVE_UP {
            break (SCALE_GIVE_UP.as_secs_f64(), held);
        }
        thread::sleep(COUNT_POLL);
    };
    // Every key was seen once; the map's own count confirms that all of them are still there.
    let counted = maps
        .fdb_entries()
        .expect("reading the FDB")
        .iter()
        .filter(|(_, entry)| entry.is_remote())
        .count();
    assert!(
        held < entries || counted == entries,
        "the agent holds {counted} remote entries, not {entries}"
    );
    let rss = scale::agent_rss(lab.switch(1).name());
    let (written, writing, finished) = publisher.join().expect("the simulated nodes");
    Scale {
        entries,
        missing: entries.saturating_sub(held),
        seconds,
        rss,
        writes_per_sec: written as f64 / writing.as_secs_f64(),
        lag: (seconds - (finished - started).as_secs_f64()).max(0.0),
        resolution_ms,
    }
}

/// Publishes `nodes` simulated nodes of `macs` stations each through etcd at `endpoint`,
/// [`PUBLISHERS`] nodes at a time; the keys written, how long it took and when it ended.
fn publish(endpoint: &str, nodes: usize, macs: usize) -> (usize, Duration, Instant) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the etcd client");
    runtime.block_on(async {
        let client = Client::connect([endpoint], None)
            .await
            .expect("connecting to etcd");
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut written = 0;
        for node in 0..nodes {
            if tasks.len() == PUBLISHERS {
                written += tasks
                    .join_next()
                    .await
                    .expect("a task")
                    .expect("publishing");
            }
            tasks.spawn(publish_node(client.clone(), node, macs));
        }
        while let Some(done) = tasks.join_next().await {
            written += done.expect("publishing");
        }
        (written, started.elapsed(), Instant::now())
    })
}

/// The FDB key of station `station` of simulated node `node`, as an agent of VLAN 10 holds it.
fn simulated_key(node: usize, station: usize) -> FdbKey {
    let [_, _, high, low] = u32::try_from(node + 1)
        .expect("fewer than 2^32 nodes")
        .to_be_bytes();
    let [_, _, mac_high, mac_low] = u32::try_from(station)
        .expect("fewer than 2^32 stations")
        .to_be_bytes();
    FdbKey {
        mac: [0x02, 0x5c, high, low, mac_high, mac_low],
        vlan: VLAN,
    }
}

/// Publishes simulated node `node` (VTEP `10.96.x.y`) with `macs` stations, under a lease of
/// its own, in transactions of at most [`MAX_BATCH`] writes, as an agent does; the keys
/// written.
async fn publish_node(mut client: Client, node: usize, macs: usize) -> usize {
    let [_, _, high, low] = u32::try_from(node + 1)
        .expect("fewer than 2^32 nodes")
        .to_be_bytes();
    let vtep = IpAddr::V4(Ipv4Addr::new(10, 96, high, low));
    let local = Local {
        vteps: BTreeMap::from([(VNI, vtep)]),
        macs: (0..macs)
            .map(|station| {
                (
                    (VNI, simulated_key(node, station).mac),
                    Station {
                        vlan: VLAN,
                        ip: None,
                    },
                )
            })
            .collect(),
    };
    let records: Vec<(String, String)> = local.records(&format!("sim{node}")).into_iter().collect();
    let lease = client
        .lease_grant(SIMULATED_LEASE_SECS, None)
        .await
        .expect("a lease")
        .id();
    for batch in records.chunks(MAX_BATCH) {
        let operations: Vec<TxnOp> = batch
            .iter()
            .map(|(key, value)| {
                TxnOp::put(
                    key.as_str(),
                    value.as_str(),
                    Some(PutOptions::new().with_lease(lease)),
                )
            })
            .collect();
        client
            .txn(Txn::new().and_then(operations))
            .await
            .expect("a transaction");
    }
    records.len()
}
