//! The instance's counters as Prometheus metrics, built afresh from the maps on every scrape.

use std::borrow::Cow;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, info::Info},
    registry::Registry,
};
use vswitch_common::stats::{DropReason, PortStats};

use super::MetricsError;
use crate::{
    agent::{expired, monotonic_ns},
    datapath::{DatapathError, Maps},
    state::InstanceState,
};

/// The port label of frames from interfaces that are not ports (as in `vswitch stats`).
const NOT_A_PORT: &str = "(not a port)";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabel {
    port: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    port: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntryLabel {
    r#type: String,
}

/// A per-port counter: its name, help, and how it reads a port's [`PortStats`].
type PortCounter = (&'static str, &'static str, fn(&PortStats) -> u64);

const PORT_COUNTERS: &[PortCounter] = &[
    ("port_rx_packets", "Frames received on the port", |s| {
        s.rx_packets
    }),
    ("port_rx_bytes", "Bytes received on the port", |s| {
        s.rx_bytes
    }),
    ("port_tx_packets", "Frames sent out of the port", |s| {
        s.tx_packets
    }),
    ("port_tx_bytes", "Bytes sent out of the port", |s| {
        s.tx_bytes
    }),
    (
        "port_forwarded",
        "Frames from the port forwarded to one known port",
        |s| s.forwarded,
    ),
    (
        "port_flooded",
        "Frames from the port flooded to its VLAN",
        |s| s.flooded,
    ),
    (
        "port_learned",
        "Source addresses learned (or moved) on the port",
        |s| s.learned,
    ),
    (
        "port_answered",
        "ARP requests and neighbour solicitations the switch answered for the port",
        |s| s.answered,
    ),
];

/// The metrics of the running instance `name`, in the Prometheus text format.
pub fn render(name: &str) -> Result<String, MetricsError> {
    let state = InstanceState::read(name)?;
    let maps = Maps::open(&state.maps)?;
    let mut ports = vec![(NOT_A_PORT.to_string(), maps.port_stats(0)?)];
    for port in &state.ports {
        ports.push((port.name.clone(), maps.port_stats(port.slot)?));
    }
    let mut registry = Registry::with_prefix_and_labels(
        "vswitch",
        [(Cow::Borrowed("switch"), Cow::Owned(name.to_string()))].into_iter(),
    );
    for (metric, help, read) in PORT_COUNTERS {
        let family = Family::<PortLabel, Counter>::default();
        for (port, stats) in &ports {
            family
                .get_or_create(&PortLabel { port: port.clone() })
                .inc_by(read(stats));
        }
        registry.register(*metric, *help, family);
    }
    let drops = Family::<DropLabels, Counter>::default();
    for (port, stats) in &ports {
        for reason in DropReason::ALL {
            drops
                .get_or_create(&DropLabels {
                    port: port.clone(),
                    reason: reason.name().to_string(),
                })
                .inc_by(stats.drops[reason as usize]);
        }
    }
    registry.register("port_drops", "Frames dropped, by port and reason", drops);
    let entries = Family::<EntryLabel, Gauge>::default();
    let now = monotonic_ns();
    let ageing_ns = maps
        .switch
        .get(&0, 0)
        .map_err(|source| DatapathError::Map {
            what: "reading the switch's ageing time".to_string(),
            source,
        })?
        .ageing_ns;
    let (mut statics, mut learned) = (0, 0);
    for (_, entry) in maps.fdb_entries()? {
        if expired(&entry, now, ageing_ns) {
            continue;
        }
        if entry.is_static() {
            statics += 1;
        } else {
            learned += 1;
        }
    }
    for (kind, count) in [("static", statics), ("learned", learned)] {
        entries
            .get_or_create(&EntryLabel {
                r#type: kind.to_string(),
            })
            .set(count);
    }
    registry.register("fdb_entries", "Entries of the MAC table", entries);
    let count = Gauge::<i64>::default();
    count.set(i64::try_from(state.ports.len()).unwrap_or(i64::MAX));
    registry.register("ports", "Ports of the switch", count);
    registry.register(
        "agent",
        "The agent's version and git revision",
        Info::new(vec![
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", crate::REVISION),
        ]),
    );
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    Ok(text)
}
