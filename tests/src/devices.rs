//! Driving `vswitch dev` in a test namespace, and reading the result back independently with
//! `ip -d -j`.

use std::process::Output;

use serde_json::Value;

use crate::{command::run_in, netns::Netns, switch::vswitch_in};

/// Runs `vswitch dev ARGS` inside `netns` and returns its output, whatever its exit status.
pub fn dev(netns: &Netns, args: &[&str]) -> Output {
    let mut full = vec!["dev"];
    full.extend_from_slice(args);
    vswitch_in(netns.name(), &full)
}

/// Runs `vswitch dev ARGS` inside `netns`, panicking with its stderr unless it succeeds.
pub fn dev_ok(netns: &Netns, args: &[&str]) -> String {
    let output = dev(netns, args);
    assert!(
        output.status.success(),
        "`vswitch dev {}` failed with {}: {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `ip -d -j link show NAME` inside `netns`: the interface as iproute2 reads it.
pub fn ip_link(netns: &Netns, name: &str) -> Value {
    let json = run_in(netns.name(), &["ip", "-d", "-j", "link", "show", name]);
    let links: Value = serde_json::from_str(&json).expect("ip -j prints JSON");
    links[0].clone()
}

/// `ip -j addr show NAME` inside `netns`: its addresses as `ADDRESS/PREFIX`.
pub fn ip_addresses(netns: &Netns, name: &str) -> Vec<String> {
    let json = run_in(netns.name(), &["ip", "-j", "addr", "show", name]);
    let links: Value = serde_json::from_str(&json).expect("ip -j prints JSON");
    links[0]["addr_info"]
        .as_array()
        .expect("an address list")
        .iter()
        .map(|address| {
            format!(
                "{}/{}",
                address["local"].as_str().unwrap_or(""),
                address["prefixlen"]
            )
        })
        .collect()
}

/// `vswitch dev show --json` inside `netns`: the device called `name`.
pub fn shown(netns: &Netns, name: &str) -> Value {
    let devices: Value =
        serde_json::from_str(&dev_ok(netns, &["show", "--json"])).expect("dev show prints JSON");
    devices
        .as_array()
        .expect("an array of devices")
        .iter()
        .find(|device| device["name"] == name)
        .unwrap_or_else(|| panic!("dev show lists no {name}: {devices}"))
        .clone()
}

/// Asserts that `output` is the refusal of a kind the kernel lacks: exit 1, and a message
/// naming the kernel feature (`CONFIG_...`).
pub fn assert_missing_feature(output: &Output, config: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the running kernel has no") && stderr.contains(config),
        "the message does not name {config}: {stderr}"
    );
}
