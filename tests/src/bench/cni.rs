//! vswitch-cni against the reference `bridge` plugin on the same scenario: two containers
//! attached by the plugin (driven as a runtime drives it, with Debian's `host-local`), TCP
//! throughput with iperf3 and ping round trips between them.

use serde_json::json;

use super::{
    metrics::{iperf3, ping_rtts},
    samples::Samples,
};
use crate::{cni::Network, command::run_in, names, netns::Netns, switch::Switch};

/// What one attachment method gave.
#[derive(Debug)]
pub struct CniPath {
    /// Which plugin, and how set up.
    pub label: String,
    /// iperf3 from the first container to the second, Gbit/s.
    pub tcp_gbit: Result<f64, String>,
    /// Ping round trips from the first to the second, µs.
    pub ping: Samples,
}

/// How the two containers of a scenario are attached.
#[derive(Clone, Copy, Debug)]
enum Plugin {
    Vswitch,
    Bridge { netfilter: bool },
}

/// Measures every path for `seconds` of TCP and `pings` round trips each: vswitch-cni, and the
/// bridge plugin with bridge netfilter as a fresh namespace has it and, where it exists, off.
pub fn measure(seconds: u32, pings: u32) -> Vec<CniPath> {
    let mut plugins = vec![Plugin::Vswitch, Plugin::Bridge { netfilter: true }];
    let probe = Netns::new(&names::bench("nf"));
    if super::environment::br_netfilter_in(probe.name()) {
        plugins.push(Plugin::Bridge { netfilter: false });
    }
    drop(probe);
    plugins
        .into_iter()
        .map(|plugin| measure_one(plugin, seconds, pings))
        .collect()
}

fn measure_one(plugin: Plugin, seconds: u32, pings: u32) -> CniPath {
    let runtime = Netns::new(&names::bench("rt"));
    let (c1, c2) = (
        Netns::new(&names::bench("c")),
        Netns::new(&names::bench("c")),
    );
    // Kept alive for the measurement.
    let _switch;
    let (network, label) = match plugin {
        Plugin::Vswitch => {
            let switch = Switch::start(&runtime, "");
            let network = Network::vswitch(switch.name(), "10.88.0.0/24", &json!({}));
            _switch = Some(switch);
            (network, "vswitch-cni".to_string())
        }
        Plugin::Bridge { netfilter } => {
            _switch = None;
            if !netfilter {
                for table in ["iptables", "ip6tables", "arptables"] {
                    let path = format!("/proc/sys/net/bridge/bridge-nf-call-{table}");
                    run_in(runtime.name(), &["sh", "-c", &format!("echo 0 > {path}")]);
                }
            }
            let network = Network::bridge(&names::bench("br"), "10.88.0.0/24", &json!({}));
            let setting = run_in(
                runtime.name(),
                &[
                    "sh",
                    "-c",
                    "cat /proc/sys/net/bridge/bridge-nf-call-iptables || echo absent",
                ],
            );
            let label = format!("bridge plugin, bridge-nf-call-iptables {}", setting.trim());
            (network, label)
        }
    };
    network.add(runtime.name(), "c1", c1.name());
    let second = network.add(runtime.name(), "c2", c2.name());
    let address = Network::address(&second);
    let ping = ping_rtts(c1.name(), &address, pings);
    let tcp_gbit = iperf3(c2.name(), c1.name(), &address, seconds);
    CniPath {
        label,
        tcp_gbit,
        ping,
    }
}
