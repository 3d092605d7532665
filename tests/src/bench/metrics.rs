//! One measurement of one topology: packet rates, TCP throughput, ping latency.

use std::{
    process::{Child, Command, Stdio},
    thread,
    time::Duration,
};

use super::{
    cpu::CpuTimes,
    link,
    samples::Samples,
    stackgen,
    topology::{IFNAME, Topology},
    trafficgen::learning_source,
    udp::{self, Flow},
};
use crate::command::{output, pings};

/// Time for frames still in flight to arrive before the counters are read.
const DRAIN: Duration = Duration::from_millis(100);
/// Distinct frames the stack generator cycles through (one flow each).
const STACK_FLOWS: u16 = 64;
/// The broadcast address, for floods.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// One rate measurement.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    /// Frames per second received by the sinks together.
    pub pps: f64,
    /// The same per busy core (all cores' busy time over the run, from `/proc/stat`).
    pub per_core: f64,
    /// Frames the generator handed over.
    pub sent: u64,
    /// The generator interface's tx_dropped over the run.
    pub tx_dropped: u64,
}

fn flow(topology: &Topology, dst_mac: [u8; 6]) -> Flow {
    let sink = &topology.sinks[0];
    Flow {
        dst_mac,
        src_mac: topology.generator.mac,
        src_ip: topology.generator.ip,
        dst_ip: sink.ip,
    }
}

/// The namespaces whose counters a rate is read from.
struct Ends {
    generator: String,
    sinks: Vec<String>,
}

impl Ends {
    fn of(topology: &Topology) -> Self {
        Self {
            generator: topology.generator.name().to_string(),
            sinks: topology
                .sinks
                .iter()
                .map(|sink| sink.name().to_string())
                .collect(),
        }
    }

    /// Frames the sinks received, and the generator's tx_dropped.
    fn counters(&self) -> (u64, u64) {
        let received = self
            .sinks
            .iter()
            .map(|sink| link::counters(sink, IFNAME).rx_packets)
            .sum();
        (received, link::counters(&self.generator, IFNAME).tx_dropped)
    }

    fn measure(&self, generate: impl FnOnce(&str) -> (u64, Duration)) -> Rate {
        let (received_before, dropped_before) = self.counters();
        let cpu = CpuTimes::now();
        let (sent, elapsed) = generate(&self.generator);
        let busy = cpu.busy_cores_since();
        thread::sleep(DRAIN);
        let (received_after, dropped_after) = self.counters();
        let pps = (received_after - received_before) as f64 / elapsed.as_secs_f64();
        Rate {
            pps,
            per_core: if busy > 0.0 { pps / busy } else { 0.0 },
            sent,
            tx_dropped: dropped_after - dropped_before,
        }
    }
}

/// XDP-sourced 64-byte frames to `dst_mac` (the first sink, or [`BROADCAST`]) for `duration`.
pub fn xdp_rate(topology: &mut Topology, dst_mac: [u8; 6], duration: Duration) -> Rate {
    let frame = udp::frame(&flow(topology, dst_mac), 10_000);
    Ends::of(topology).measure(|generator| {
        topology
            .trafficgen
            .generate(generator, IFNAME, &frame, duration)
    })
}

/// Address learning (RFC 2889, 5.7), on a vswitch topology.
#[derive(Clone, Copy, Debug)]
pub struct Learning {
    /// New source addresses offered, one frame each.
    pub offered: u64,
    /// Of those, the ones in the FDB afterwards.
    pub learned: u64,
    /// Frames that did not reach the sink.
    pub lost: u64,
    /// Addresses learned per second of sending.
    pub per_second: f64,
}

/// XDP-sourced frames to the first sink from `count` source addresses the switch has not seen
/// ([`learning_source`]`(first..)`; rounded up to the generator's batch), one frame each, at
/// full rate: how many the switch learned, how fast, and how many of the frames that carried
/// them were lost.
pub fn learning(topology: &mut Topology, first: u32, count: u32) -> Learning {
    let frame = udp::frame(&flow(topology, topology.sinks[0].mac), 10_000);
    let ends = Ends::of(topology);
    let generator = topology.generator.name().to_string();
    let name = topology
        .switch()
        .expect("address learning is measured on vswitch")
        .name()
        .to_string();
    let learned_so_far = || {
        super::scale::maps_named(&name)
            .fdb_entries()
            .expect("reading the FDB")
            .iter()
            .filter(|(key, _)| key.mac[..2] == learning_source(0)[..2])
            .count() as u64
    };
    let learned_before = learned_so_far();
    topology.trafficgen.set_sources(first, count);
    let (before, _) = ends.counters();
    let (sent, elapsed) =
        topology
            .trafficgen
            .generate_frames(&generator, IFNAME, &frame, u64::from(count));
    thread::sleep(DRAIN);
    let (after, _) = ends.counters();
    topology.trafficgen.set_sources(0, 0);
    let learned = learned_so_far() - learned_before;
    Learning {
        offered: sent,
        learned,
        lost: sent.saturating_sub(after - before),
        per_second: learned as f64 / elapsed.as_secs_f64(),
    }
}

/// Stack-sourced 64-byte frames to the first sink for `duration`.
pub fn stack_rate(topology: &Topology, duration: Duration) -> Rate {
    let flow = flow(topology, topology.sinks[0].mac);
    let frames: Vec<Vec<u8>> = (0..STACK_FLOWS)
        .map(|n| udp::frame(&flow, 10_000 + n))
        .collect();
    Ends::of(topology).measure(|generator| stackgen::generate(generator, IFNAME, &frames, duration))
}

/// An iperf3 server in a namespace, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// TCP throughput from the generator to the first sink with iperf3, default offloads, in
/// Gbit/s; or why there is none.
pub fn tcp(topology: &Topology, seconds: u32) -> Result<f64, String> {
    let sink = &topology.sinks[0];
    iperf3(
        sink.name(),
        topology.generator.name(),
        &sink.ip.to_string(),
        seconds,
    )
}

/// iperf3 for `seconds` from a client in namespace `client` to a one-off server in `server`
/// listening on `address`, in Gbit/s received.
pub fn iperf3(server: &str, client: &str, address: &str, seconds: u32) -> Result<f64, String> {
    let _server = Server(
        Command::new("ip")
            .args(["netns", "exec", server, "iperf3", "-s", "-1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting iperf3 -s"),
    );
    let seconds = seconds.to_string();
    let mut error = String::new();
    for _ in 0..50 {
        let result = output(
            "ip",
            &[
                "netns", "exec", client, "iperf3", "-c", address, "-t", &seconds, "-J",
            ],
        );
        let report: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap_or_default();
        if let Some(bits) = report["end"]["sum_received"]["bits_per_second"].as_f64() {
            return Ok(bits / 1e9);
        }
        error = report["error"].as_str().unwrap_or("no result").to_string();
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("iperf3: {error}"))
}

/// Ping round-trip times from the generator to the first sink, in microseconds, after a
/// warm-up that resolves ARP; empty if nothing came back.
pub fn ping(topology: &Topology, count: u32) -> Samples {
    ping_rtts(
        topology.generator.name(),
        &topology.sinks[0].ip.to_string(),
        count,
    )
}

/// Ping round-trip times from namespace `generator` to `address`, in microseconds, after a
/// warm-up that resolves ARP; empty if nothing came back.
pub fn ping_rtts(generator: &str, address: &str, count: u32) -> Samples {
    let address = address.to_string();
    if !pings(generator, &address) {
        return Samples::default();
    }
    let count = count.to_string();
    let result = output(
        "ip",
        &[
            "netns", "exec", generator, "ping", "-n", "-c", &count, "-i", "0.002", "-W", "1",
            &address,
        ],
    );
    let mut rtts = Samples::default();
    for line in String::from_utf8_lossy(&result.stdout).lines() {
        if let Some(ms) = line
            .split("time=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|ms| ms.parse::<f64>().ok())
        {
            rtts.push(ms * 1000.0);
        }
    }
    rtts
}
