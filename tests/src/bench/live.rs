//! Changing a running switch: how long adding one port takes on a switch that already has
//! many, how long a reload that changes one port takes, and what two hosts the changes do not
//! touch lose meanwhile.
//!
//! The changes go through the agent's control socket from this process (the time a
//! `vswitch port add` would take, without the CLI's own process start).

use std::time::{Duration, Instant};

use vswitch::control::{self, Command, PortAdd};

use super::samples::Samples;
use crate::{lab::Lab, names, netns::Netns, ping::PingStream, switch::Switch};

/// Interval of the untouched hosts' ping stream.
const PING_INTERVAL: Duration = Duration::from_millis(2);
/// Echo requests per change: the stream outlasts the changes (a cycle takes far less than
/// this many intervals).
const PINGS_PER_CHANGE: u32 = 100;

/// What one run measured.
#[derive(Debug, Default)]
pub struct LiveChanges {
    /// `port add` round trips, milliseconds.
    pub add_ms: Samples,
    /// `reload` round trips that change one port's VLAN, milliseconds.
    pub reload_ms: Samples,
    /// Echo requests between two untouched hosts during the changes.
    pub sent: u64,
    /// Of those, how many got no reply.
    pub lost: u64,
}

/// Starts a switch with `ports` host ports, then adds and removes a port `changes` times and
/// reloads a config that flips the last port's VLAN `changes` times, while the first two
/// hosts ping each other.
pub fn measure(ports: usize, changes: usize) -> LiveChanges {
    let lab = Lab::new(ports);
    let last = ports - 1;
    let switch = Switch::start(&lab.switch_ns, &lab.config(|_| 1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let call = |command: Command| {
        let started = Instant::now();
        runtime
            .block_on(control::call(switch.name(), command))
            .unwrap_or_else(|error| panic!("a live change was refused: {error}"));
        started.elapsed().as_secs_f64() * 1e3
    };
    let pings = PINGS_PER_CHANGE * 2 * changes as u32;
    let stream = PingStream::start(lab.hosts[0].name(), &Lab::address(1), PING_INTERVAL, pings);
    let mut measured = LiveChanges::default();
    for n in 0..changes {
        let host = Netns::new(&names::bench("x"));
        let name = names::bench("xp");
        measured.add_ms.push(call(Command::PortAdd(PortAdd {
            name: name.clone(),
            netns: Some(host.name().to_string()),
            addresses: vec![format!("10.77.1.{}/24", n + 1)],
            // A VLAN of its own: VLAN 1 already has the 64 members a flood set holds.
            vlan: Some(2),
            ..PortAdd::default()
        })));
        call(Command::PortDel { name });
    }
    for n in 0..changes {
        let vlan = if n % 2 == 0 { 2 } else { 1 };
        switch.rewrite_config(&lab.config(|host| if host == last { vlan } else { 1 }));
        measured.reload_ms.push(call(Command::Reload));
    }
    let summary = stream.finish();
    measured.sent = summary.transmitted;
    measured.lost = summary.lost();
    measured
}
