//! vswitch at scale: forwarding with a large FDB, installing static entries, and start-up time
//! as the port count grows.

use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    time::{Duration, Instant},
};

use aya::maps::MapData;
use vswitch::{datapath::Maps, state::InstanceState};
use vswitch_common::{fdb::FdbKey, mac::Colons, map_names};

use super::topology::{Peer, Source, Topology};
use crate::{names, netns::Netns, switch::Switch};

/// `count` distinct static FDB keys, numbered from `first`, in VLAN 1.
pub fn stations(first: u32, count: u32) -> Vec<FdbKey> {
    (first..first + count)
        .map(|n| {
            let [a, b, c, d] = n.to_be_bytes();
            FdbKey {
                mac: [0x06, 0xbe, a, b, c, d],
                vlan: 1,
            }
        })
        .collect()
}

/// The maps of the running instance `name`, opened by the IDs it published.
pub fn maps_named(name: &str) -> Maps {
    let state = InstanceState::read(name).expect("the instance record");
    Maps::open(&state.maps).expect("opening the switch's maps")
}

/// The kernel memory that instance `name`'s FDB map holds, in bytes: the `memlock` of its
/// fdinfo, which for a hash that is not preallocated counts the elements in use.
pub fn fdb_memory(name: &str) -> u64 {
    let state = InstanceState::read(name).expect("the instance record");
    let id = state.maps[map_names::FDB];
    let map = MapData::from_id(id).expect("opening the FDB by its ID");
    let fd = map.fd().as_fd().as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .expect("reading the FDB's fdinfo");
    field(&info, "memlock:").expect("fdinfo has memlock")
}

/// The resident memory of instance `name`'s agent, in bytes.
pub fn agent_rss(name: &str) -> u64 {
    let state = InstanceState::read(name).expect("the instance record");
    let status = std::fs::read_to_string(format!("/proc/{}/status", state.pid))
        .expect("reading the agent's status");
    field(&status, "VmRSS:").expect("the agent's status has VmRSS") * 1024
}

/// The number after `label` on its line of `text` (`/proc` style `label  value [kB]`).
fn field(text: &str, label: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(label))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A vswitch XDP topology whose FDB holds `entries` static entries besides the learned ones.
pub fn with_fdb(entries: u32) -> Topology {
    let topology = Topology::build(Peer::Vswitch, Source::Xdp, 1);
    let switch = topology.switch().expect("vswitch runs a switch");
    install(switch, 0, entries, "p1");
    // An LRU map may have evicted the learned stations to make room.
    topology.teach();
    topology
}

/// How long `vswitch fdb add --file` takes to install `count` new static entries, numbered from
/// `first`, towards `port` of `switch` (the file is written before the clock starts).
fn install(switch: &Switch, first: u32, count: u32, port: &str) -> Duration {
    let lines: String = stations(first, count)
        .iter()
        .map(|key| format!("{} {} {port}\n", Colons(&key.mac), key.vlan))
        .collect();
    let file = std::env::temp_dir().join(names::bench("fdb"));
    std::fs::write(&file, lines).expect("writing the FDB file");
    let path = file.display().to_string();
    let started = Instant::now();
    let output = switch.vswitch(&["fdb", "add", "--file", &path]);
    let elapsed = started.elapsed();
    std::fs::remove_file(&file).expect("removing the FDB file");
    assert!(output.status.success(), "fdb add --file: {output:?}");
    elapsed
}

/// A switch with one port and nothing else, to install entries into.
pub struct EmptySwitch {
    switch: Switch,
    _netns: [Netns; 2],
}

impl EmptySwitch {
    /// The port the entries go to.
    const PORT: &str = "f0";

    /// Starts it in a namespace of its own, its port's other end in another.
    pub fn start() -> Self {
        let (core, end) = (
            Netns::new(&names::bench("f")),
            Netns::new(&names::bench("h")),
        );
        let config = format!(
            "[[port]]\nname = \"{}\"\nnetns = \"{}\"\n",
            Self::PORT,
            end.name()
        );
        Self {
            switch: Switch::start(&core, &config),
            _netns: [core, end],
        }
    }

    /// How long `vswitch fdb add --file` takes to install `count` new static entries, numbered
    /// from `first`: the CLI, the control socket and the agent's batched map updates.
    pub fn install(&self, first: u32, count: u32) -> Duration {
        install(&self.switch, first, count, Self::PORT)
    }
}

/// How long `vswitch run` takes until a switch with `ports` container ports is up.
pub fn startup(ports: usize) -> Duration {
    let core = Netns::new(&names::bench("u"));
    let ends: Vec<Netns> = (0..ports).map(|_| Netns::new(&names::bench("h"))).collect();
    let config: String = ends
        .iter()
        .enumerate()
        .map(|(n, end)| format!("[[port]]\nname = \"p{n}\"\nnetns = \"{}\"\n", end.name()))
        .collect();
    let (switch, elapsed) = Switch::start_timed(&core, &config);
    drop(switch);
    elapsed
}
