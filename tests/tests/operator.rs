//! The operator's kit: the Prometheus endpoint, checked with the Prometheus client library's
//! own parser, and `vswitch --version`.

use std::collections::HashMap;

use serde_json::Value;
use tests::{
    command::{pings, run, run_in},
    lab::Lab,
    switch::{Switch, binary},
};

/// Fetches `url` inside `netns` and prints every sample as JSON, parsed by
/// `prometheus_client.openmetrics.parser` (Debian's python3-prometheus-client, which `cargo xtask test`
/// installs).
const SCRAPE: &str = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
print(json.dumps([
    {"family": family.name, "type": family.type, "name": sample.name,
     "labels": sample.labels, "value": sample.value}
    for family in text_string_to_metric_families(text) for sample in family.samples
]))
"#;

/// Debian's Python, for which python3-prometheus-client is installed.
const PYTHON: &str = "/usr/bin/python3";

fn scrape(netns: &str, url: &str) -> Vec<Value> {
    let json = run_in(netns, &[PYTHON, "-c", SCRAPE, url]);
    let samples: Value = serde_json::from_str(&json).expect("the scraper prints JSON");
    samples.as_array().expect("an array of samples").clone()
}

/// The value of the sample called `name` whose labels include `labels`.
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|sample| {
            sample["name"] == name
                && labels
                    .iter()
                    .all(|(key, value)| sample["labels"][key] == *value)
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {samples:?}"))["value"]
        .as_f64()
        .expect("a number")
}

#[test]
fn metrics_are_valid_prometheus_text_and_agree_with_stats() {
    let lab = Lab::new(2);
    let config = lab.config(|_| 10);
    let switch = Switch::start_pinned(&lab.switch_ns, &config, &["--metrics", "9469"]);
    assert!(pings(lab.hosts[0].name(), &Lab::address(1)));
    let url = "http://127.0.0.1:9469/metrics";
    let samples = scrape(lab.switch_ns.name(), url);
    let stats: HashMap<String, Value> = switch
        .rows(&["stats"])
        .into_iter()
        .map(|row| (row["port"].as_str().expect("a port").to_string(), row))
        .collect();
    let name = switch.name();
    for port in &lab.ports {
        let labels = [("switch", name), ("port", port.as_str())];
        for (metric, field) in [
            ("vswitch_port_rx_packets_total", "rx_packets"),
            ("vswitch_port_tx_packets_total", "tx_packets"),
            ("vswitch_port_rx_bytes_total", "rx_bytes"),
            ("vswitch_port_learned_total", "learned"),
        ] {
            let scraped = sample(&samples, metric, &labels);
            // `stats` was read after the scrape: counters only grow.
            let later = stats[port.as_str()][field].as_f64().expect("a number");
            assert!(
                scraped > 0.0 && scraped <= later,
                "{metric} {port}: {scraped} vs {later}"
            );
        }
        let drops = [
            ("switch", name),
            ("port", port.as_str()),
            ("reason", "vlan_ingress"),
        ];
        assert_eq!(sample(&samples, "vswitch_port_drops_total", &drops), 0.0);
    }
    let learned = sample(&samples, "vswitch_fdb_entries", &[("type", "learned")]);
    assert!(learned >= 2.0, "{learned} learned entries");
    assert_eq!(sample(&samples, "vswitch_ports", &[("switch", name)]), 2.0);
    let info = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(sample(&samples, "vswitch_agent_info", &info), 1.0);
    let families: Vec<&str> = samples
        .iter()
        .filter_map(|sample| sample["type"].as_str())
        .collect();
    assert!(
        families.contains(&"counter") && families.contains(&"gauge") && families.contains(&"info")
    );
    let missing = run_in(
        lab.switch_ns.name(),
        &[
            PYTHON,
            "-c",
            "import sys, urllib.request, urllib.error\ntry:\n    urllib.request.urlopen(sys.argv[1])\nexcept urllib.error.HTTPError as e:\n    print(e.code)",
            "http://127.0.0.1:9469/",
        ],
    );
    assert_eq!(missing.trim(), "404");
}

#[test]
fn version_names_the_git_revision() {
    let version = run(&binary().to_string_lossy(), &["--version"]);
    let revision = run(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ],
    );
    assert_eq!(
        version.trim(),
        format!(
            "vswitch {} (git {})",
            env!("CARGO_PKG_VERSION"),
            revision.trim()
        )
    );
}
