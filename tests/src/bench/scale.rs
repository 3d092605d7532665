//! vswitch at scale: forwarding with a large FDB, installing static entries, and start-up time
//! as the port count grows.

use std::time::{Duration, Instant};

use vswitch::{datapath::Maps, state::InstanceState};
use vswitch_common::fdb::FdbKey;

use super::{
    link,
    topology::{Peer, Source, Topology},
};
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

fn maps_of(switch: &Switch) -> Maps {
    maps_named(switch.name())
}

/// A vswitch XDP topology whose FDB holds `entries` static entries besides the learned ones.
pub fn with_fdb(entries: u32) -> Topology {
    let topology = Topology::build(Peer::Vswitch, Source::Xdp, 1);
    let switch = topology.switch().expect("vswitch runs a switch");
    let sink_port = link::ifindex(topology.core().name(), "p1");
    let batch: Vec<(FdbKey, u32)> = stations(0, entries)
        .into_iter()
        .map(|key| (key, sink_port))
        .collect();
    maps_of(switch)
        .add_static_fdb(&batch)
        .expect("installing static entries");
    // An LRU map may have evicted the learned stations to make room.
    topology.teach();
    topology
}

/// An empty switch, to install entries into.
pub struct EmptySwitch {
    switch: Switch,
    _netns: Netns,
}

impl EmptySwitch {
    /// Starts it in a namespace of its own.
    pub fn start() -> Self {
        let netns = Netns::new(&names::bench("f"));
        Self {
            switch: Switch::start(&netns, ""),
            _netns: netns,
        }
    }

    /// How long the controller takes to install `count` new static entries, numbered from
    /// `first`, with batched map updates.
    pub fn install(&self, first: u32, count: u32) -> Duration {
        let mut maps = maps_of(&self.switch);
        let batch: Vec<(FdbKey, u32)> = stations(first, count)
            .into_iter()
            .map(|key| (key, 1))
            .collect();
        let started = Instant::now();
        maps.add_static_fdb(&batch)
            .expect("installing static entries");
        started.elapsed()
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
