//! The run's environment, recorded with the results: kernel, CPU, load, bridge netfilter.

use std::path::Path;

use serde_json::{Value, json};

use super::cpu;
use crate::command::succeeds_in;

const BRIDGE_NF_SYSCTL: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// The 1-minute load average now.
pub fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Whether bridge netfilter exists here (built in, or a loaded module).
pub fn br_netfilter() -> bool {
    Path::new(BRIDGE_NF_SYSCTL).exists()
}

/// Whether bridge netfilter's sysctls exist inside namespace `netns`.
pub fn br_netfilter_in(netns: &str) -> bool {
    succeeds_in(netns, &["test", "-e", BRIDGE_NF_SYSCTL])
}

/// How bridge netfilter is available, in words.
pub fn br_netfilter_source() -> &'static str {
    let config = std::process::Command::new("sh")
        .args([
            "-c",
            "zcat /proc/config.gz 2>/dev/null | grep '^CONFIG_BRIDGE_NETFILTER='",
        ])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default();
    match (br_netfilter(), config.as_str()) {
        (true, "CONFIG_BRIDGE_NETFILTER=y") => "built in",
        (true, _) => "loaded",
        (false, _) => "absent",
    }
}

/// Kernel, CPU, core count and bridge netfilter, as JSON.
pub fn describe() -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_string())
        })
        .unwrap_or_default();
    json!({
        "kernel": kernel,
        "cpu_model": cpu_model,
        "cpus": cpu::cpus(),
        "br_netfilter": br_netfilter_source(),
    })
}
