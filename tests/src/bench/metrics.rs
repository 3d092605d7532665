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
    topology::{Endpoint, IFNAME, Topology},
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
    /// The frames of the receiver that received fewest (0: an end was cut off).
    pub fewest: u64,
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
    senders: Vec<String>,
    receivers: Vec<String>,
}

impl Ends {
    /// The generator sends, the sinks receive.
    fn of(topology: &Topology) -> Self {
        Self {
            senders: vec![topology.generator.name().to_string()],
            receivers: topology
                .sinks
                .iter()
                .map(|sink| sink.name().to_string())
                .collect(),
        }
    }

    /// Every end sends and receives.
    fn meshed(topology: &Topology) -> Self {
        let ends: Vec<String> = topology.ends().map(|end| end.name().to_string()).collect();
        Self {
            senders: ends.clone(),
            receivers: ends,
        }
    }

    /// Frames each receiver received, and the senders' tx_dropped.
    fn counters(&self) -> (Vec<u64>, u64) {
        let received = self
            .receivers
            .iter()
            .map(|sink| link::counters(sink, IFNAME).rx_packets)
            .collect();
        let dropped = self
            .senders
            .iter()
            .map(|sender| link::counters(sender, IFNAME).tx_dropped)
            .sum();
        (received, dropped)
    }

    /// Counts around `generate`, which sends from the senders and returns the frames sent and
    /// the time taken.
    fn measure(&self, generate: impl FnOnce(&[String]) -> (u64, Duration)) -> Rate {
        let (received_before, dropped_before) = self.counters();
        let cpu = CpuTimes::now();
        let (sent, elapsed) = generate(&self.senders);
        let busy = cpu.busy_cores_since();
        thread::sleep(DRAIN);
        let (received_after, dropped_after) = self.counters();
        let received: Vec<u64> = received_after
            .iter()
            .zip(&received_before)
            .map(|(after, before)| after - before)
            .collect();
        let pps = received.iter().sum::<u64>() as f64 / elapsed.as_secs_f64();
        Rate {
            pps,
            per_core: if busy > 0.0 { pps / busy } else { 0.0 },
            sent,
            tx_dropped: dropped_after - dropped_before,
            fewest: received.into_iter().min().unwrap_or(0),
        }
    }
}

/// XDP-sourced 64-byte frames to `dst_mac` (the first sink, or [`BROADCAST`]) for `duration`.
pub fn xdp_rate(topology: &mut Topology, dst_mac: [u8; 6], duration: Duration) -> Rate {
    let frame = udp::frame(&flow(topology, dst_mac), 10_000);
    Ends::of(topology).measure(|generator| {
        topology
            .trafficgen
            .generate(&generator[0], IFNAME, &frame, duration)
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
    let before: u64 = before.iter().sum();
    let (sent, elapsed) =
        topology
            .trafficgen
            .generate_frames(&generator, IFNAME, &frame, u64::from(count));
    thread::sleep(DRAIN);
    let (after, _) = ends.counters();
    let after: u64 = after.iter().sum();
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
    Ends::of(topology)
        .measure(|generator| stackgen::generate(&generator[0], IFNAME, &frames, duration))
}

/// Fully meshed forwarding (RFC 2889, 5.3), stack-sourced 64-byte frames: every end sends at
/// once for `duration`, from a thread of its own, to each of the other ends in turn; the
/// frames all the ends received together.
pub fn mesh_rate(topology: &Topology, duration: Duration) -> Rate {
    let ends: Vec<&Endpoint> = topology.ends().collect();
    let per_destination = STACK_FLOWS / (ends.len() as u16 - 1);
    let frames: Vec<Vec<Vec<u8>>> = ends
        .iter()
        .map(|from| {
            (0..per_destination)
                .flat_map(|port| {
                    ends.iter().filter(|to| to.mac != from.mac).map(move |to| {
                        let flow = Flow {
                            dst_mac: to.mac,
                            src_mac: from.mac,
                            src_ip: from.ip,
                            dst_ip: to.ip,
                        };
                        udp::frame(&flow, 10_000 + port)
                    })
                })
                .collect()
        })
        .collect();
    Ends::meshed(topology).measure(|senders| {
        thread::scope(|scope| {
            let threads: Vec<_> = senders
                .iter()
                .zip(&frames)
                .map(|(sender, frames)| {
                    scope.spawn(move || stackgen::generate(sender, IFNAME, frames, duration))
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| thread.join().expect("a mesh generator"))
                .fold((0, Duration::ZERO), |(sent, longest), (more, took)| {
                    (sent + more, longest.max(took))
                })
        })
    })
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
