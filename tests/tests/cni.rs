//! End-to-end: `vswitch-cni` driven as a runtime drives it (environment, stdin, `CNI_PATH` with
//! Debian's real `host-local`), against a running switch in its own namespace.

use serde_json::{Value, json};
use tests::{
    bench::link::counters,
    cni::{Network, Reply, binary, call},
    command::{pings, run_in},
    names,
    netns::Netns,
    podman::Podman,
    switch::Switch,
};

/// A switch in its own namespace (where the runtime, and so the plugin, runs too) and
/// container namespaces.
struct Host {
    switch: Switch,
    switch_netns: Netns,
}

impl Host {
    fn new() -> Self {
        let switch_netns = Netns::new(&names::unique("cs"));
        let switch = Switch::start(&switch_netns, "");
        Self {
            switch,
            switch_netns,
        }
    }

    fn netns(&self) -> &str {
        self.switch_netns.name()
    }

    fn ports(&self) -> Vec<Value> {
        self.switch.rows(&["port", "show"])
    }

    fn port(&self, name: &str) -> Option<Value> {
        self.ports().into_iter().find(|port| port["name"] == name)
    }

    fn host_links(&self) -> Vec<String> {
        self.switch_netns.links()
    }
}

fn container() -> Netns {
    Netns::new(&names::unique("c"))
}

/// The config with `prevResult` (for CHECK).
fn with_prev(config: &Value, result: &Value) -> Value {
    let mut config = config.clone();
    config["prevResult"] = result.clone();
    config
}

/// The host end's name in an ADD result.
fn host_end(result: &Value) -> String {
    let interfaces = result["interfaces"].as_array().expect("interfaces");
    let host = interfaces
        .iter()
        .find(|interface| interface.get("sandbox").is_none())
        .unwrap_or_else(|| panic!("no host interface in {result}"));
    host["name"].as_str().expect("a name").to_string()
}

#[test]
fn two_containers_ping_through_the_switch_then_check_and_del_twice() {
    let host = Host::new();
    let network = Network::vswitch(host.switch.name(), "10.81.0.0/24", &json!({"vlan": 10}));
    let (c1, c2) = (container(), container());
    let r1 = network.add(host.netns(), "c1", c1.name());
    let r2 = network.add(host.netns(), "c2", c2.name());

    // The result's shape: the host end, the container's eth0 in its sandbox, the address on it.
    let interfaces = r1["interfaces"].as_array().expect("interfaces");
    assert_eq!(interfaces.len(), 2, "{r1}");
    assert_eq!(interfaces[1]["name"], "eth0");
    assert_eq!(
        interfaces[1]["sandbox"],
        format!("/run/netns/{}", c1.name())
    );
    assert_eq!(interfaces[1]["mac"], c1.mac("eth0"), "{r1}");
    assert_eq!(r1["ips"][0]["interface"], 1, "{r1}");
    assert_eq!(r1["cniVersion"], "1.0.0");
    let (a1, a2) = (Network::address(&r1), Network::address(&r2));
    assert!(a1.starts_with("10.81.0.") && a1 != a2, "{a1} {a2}");
    assert!(run_in(c1.name(), &["ip", "-4", "addr", "show", "eth0"]).contains(&format!("{a1}/24")));

    // Both ends are switch ports in VLAN 10, and traffic goes through the switch.
    let port1 = host_end(&r1);
    let row = host
        .port(&port1)
        .unwrap_or_else(|| panic!("{port1} not in {:?}", host.ports()));
    assert_eq!(row["vlan"], 10);
    assert_eq!(row["hook"], "tc");
    assert!(
        pings(c1.name(), &a2),
        "c1 cannot ping c2 through the switch"
    );
    let forwarded = host.switch.stats_of(&port1)["forwarded"]
        .as_u64()
        .unwrap_or(0);
    assert!(forwarded > 0, "the switch forwarded nothing from {port1}");
    // Unicast to a container goes straight to its eth0 (bpf_redirect_peer), not through the
    // host end's transmit path: 30 echo replies to c1 leave its host end's tx count alone.
    let before = counters(host.netns(), &port1).tx_packets;
    run_in(c2.name(), &["ping", "-c", "30", "-i", "0.01", "-q", &a1]);
    let sent = counters(host.netns(), &port1).tx_packets - before;
    assert!(
        sent < 10,
        "{sent} frames went through {port1}'s transmit path (not redirected to the peer)"
    );

    // CHECK passes on the fresh attachment, and fails once its address is gone.
    let check = network.call_with(
        host.netns(),
        "CHECK",
        "c1",
        Some(c1.name()),
        &with_prev(&network.config(), &r1),
    );
    assert_eq!(check.code, Some(0), "{check:?}");
    run_in(c2.name(), &["ip", "addr", "flush", "dev", "eth0"]);
    let check = network.call_with(
        host.netns(),
        "CHECK",
        "c2",
        Some(c2.name()),
        &with_prev(&network.config(), &r2),
    );
    assert!(
        check.error_code() >= 100 && check.message().contains(&a2),
        "{check:?}"
    );

    // DEL removes port, veth and address; a second DEL, and one without a netns, succeed.
    assert_eq!(network.allocated().len(), 2);
    for _ in 0..2 {
        let del = network.call_with(
            host.netns(),
            "DEL",
            "c1",
            Some(c1.name()),
            &network.config(),
        );
        assert_eq!(del.code, Some(0), "{del:?}");
    }
    assert!(host.port(&port1).is_none(), "{port1} is still a port");
    assert!(!host.host_links().contains(&port1), "{port1} still exists");
    assert!(
        !c1.links().contains(&"eth0".to_string()),
        "eth0 is still in c1"
    );
    assert_eq!(network.allocated(), vec![a2.clone()]);
    let del = network.call_with(host.netns(), "DEL", "c2", None, &network.config());
    assert_eq!(del.code, Some(0), "{del:?}");
    assert!(network.allocated().is_empty());
    assert!(host.ports().is_empty(), "{:?}", host.ports());
}

#[test]
fn vlans_separate_networks_and_trunks_carry_them() {
    let host = Host::new();
    let red = Network::vswitch(host.switch.name(), "10.82.0.0/24", &json!({"vlan": 10}));
    let blue = Network::vswitch(
        host.switch.name(),
        "10.82.0.0/24",
        &json!({"vlan": 20, "cniVersion": "1.1.0"}),
    );
    let (c1, c2, c3) = (container(), container(), container());
    let r1 = red.add(host.netns(), "c1", c1.name());
    // Spec 1.1.0, which Debian's host-local (1.1.1) does not speak: asked again with 1.0.0.
    let r2 = blue.add(host.netns(), "c2", c2.name());
    assert_eq!(r2["cniVersion"], "1.1.0", "{r2}");
    assert!(Network::address(&r2).starts_with("10.82.0."), "{r2}");
    red.add(host.netns(), "c3", c3.name());
    // host-local gives blue's container the same first address as red's: same subnet, other
    // VLAN, so only c3 answers c1.
    assert!(pings(c3.name(), &Network::address(&r1)), "same VLAN");
    run_in(c2.name(), &["ip", "addr", "flush", "dev", "eth0"]);
    run_in(
        c2.name(),
        &["ip", "addr", "add", "10.82.0.99/24", "dev", "eth0"],
    );
    assert!(
        !pings(c2.name(), &Network::address(&r1)),
        "VLAN 20 reached VLAN 10"
    );
    blue.call_with(host.netns(), "DEL", "c2", Some(c2.name()), &blue.config())
        .ok();

    // A trunk in the bridge plugin's words: VLAN 10 tagged, and untagged frames in VLAN 5.
    let trunk = Network::vswitch(
        host.switch.name(),
        "10.83.0.0/24",
        &json!({"vlan": 5, "vlanTrunk": [{"id": 10}, {"minID": 30, "maxID": 31}]}),
    );
    let c4 = container();
    let r4 = trunk.add(host.netns(), "c4", c4.name());
    let row = host.port(&host_end(&r4)).expect("the trunk port");
    assert_eq!(row["mode"], "trunk");
    assert_eq!(row["trunk"], json!([10, 30, 31]));
    assert_eq!(row["native_vlan"], 5, "{row}");
}

#[test]
fn mac_mtu_and_routes_are_applied() {
    let host = Host::new();
    let network = Network::vswitch(
        host.switch.name(),
        "10.84.0.0/24",
        &json!({
            "mtu": 9000,
            "runtimeConfig": {"mac": "02:00:00:84:00:01"},
            "ipam": {"routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.0.2.0/24", "gw": "10.84.0.254"}]},
        }),
    );
    let c1 = container();
    let result = network.add(host.netns(), "c1", c1.name());
    assert_eq!(c1.mac("eth0"), "02:00:00:84:00:01");
    assert_eq!(c1.mtu("eth0"), 9000);
    assert_eq!(host.switch_netns.mtu(&host_end(&result)), 9000);
    assert_eq!(result["interfaces"][1]["mac"], "02:00:00:84:00:01");
    // A 1.0.0 result has no interface MTU (1.1.0 added it).
    assert_eq!(result["interfaces"][1].get("mtu"), None, "{result}");
    // A route without a gateway goes via host-local's (the subnet's first address).
    let routes = run_in(c1.name(), &["ip", "-4", "route", "show"]);
    assert!(
        routes.contains("default via 10.84.0.1 dev eth0"),
        "{routes}"
    );
    assert!(
        routes.contains("192.0.2.0/24 via 10.84.0.254 dev eth0"),
        "{routes}"
    );
    assert_eq!(
        result["routes"].as_array().map(Vec::len),
        Some(2),
        "{result}"
    );
}

#[test]
fn gc_releases_what_the_runtime_no_longer_lists() {
    let host = Host::new();
    let network = Network::vswitch(host.switch.name(), "10.85.0.0/24", &json!({}));
    let (c1, c2) = (container(), container());
    let r1 = network.add(host.netns(), "c1", c1.name());
    let r2 = network.add(host.netns(), "c2", c2.name());
    let mut config = network.config();
    config["cniVersion"] = "1.1.0".into();
    config["cni.dev/valid-attachments"] = json!([{"containerID": "c1", "ifname": "eth0"}]);
    call(&binary(), host.netns(), &[("CNI_COMMAND", "GC")], &config).ok();
    assert!(
        host.port(&host_end(&r1)).is_some(),
        "GC removed a listed attachment"
    );
    assert!(
        host.port(&host_end(&r2)).is_none(),
        "GC kept an unlisted attachment"
    );
    assert!(!host.host_links().contains(&host_end(&r2)));
    assert_eq!(network.allocated(), vec![Network::address(&r1)]);
    assert!(
        c1.links().contains(&"eth0".to_string()),
        "GC took the listed container's eth0"
    );
    assert!(
        !c2.links().contains(&"eth0".to_string()),
        "GC left the unlisted container's eth0"
    );
}

#[test]
fn errors_carry_the_spec_codes() {
    let host = Host::new();
    let network = Network::vswitch(host.switch.name(), "10.86.0.0/24", &json!({}));
    let c1 = container();
    let add = |config: &Value, netns: Option<&str>| -> Reply {
        network.call_with(host.netns(), "ADD", "c1", netns, config)
    };
    let with = |key: &str, value: Value| {
        let mut config = network.config();
        config[key] = value;
        config
    };
    // 2: a key the plugin does not know, named with its value; true for what it cannot do.
    let reply = add(&with("hairpinMode", true.into()), Some(c1.name()));
    assert_eq!(reply.error_code(), 2);
    assert!(reply.message().contains("hairpinMode"), "{reply:?}");
    let reply = add(&with("ipMasq", true.into()), Some(c1.name()));
    assert_eq!(reply.error_code(), 2, "{reply:?}");
    // 7: values out of range; 1: a version it does not speak; 6: not JSON.
    assert_eq!(
        add(&with("vlan", 5000.into()), Some(c1.name())).error_code(),
        7
    );
    assert_eq!(
        add(&with("cniVersion", "0.3.1".into()), Some(c1.name())).error_code(),
        1
    );
    assert_eq!(add(&json!("nonsense"), Some(c1.name())).error_code(), 6);
    // 4: no CNI_NETNS on ADD; 3: a namespace that does not exist.
    assert_eq!(add(&network.config(), None).error_code(), 4);
    let reply = add(&network.config(), Some("vt-no-such-netns"));
    assert_eq!(reply.error_code(), 3, "{reply:?}");
    // An IPAM plugin that is not installed.
    let reply = add(
        &with("ipam", json!({"type": "no-such-ipam"})),
        Some(c1.name()),
    );
    assert!(reply.message().contains("no-such-ipam"), "{reply:?}");
    // A runtime (and so the plugin) in another namespace than the switch.
    let elsewhere = network.call_with(c1.name(), "ADD", "c1", Some(c1.name()), &network.config());
    assert_eq!(elsewhere.error_code(), 100, "{elsewhere:?}");
    assert!(
        elsewhere.message().contains("another network namespace"),
        "{elsewhere:?}"
    );
    // A failure after the veth exists (the kernel refuses a route whose gateway is off-link)
    // undoes everything: veth, addresses.
    let reply = add(
        &with(
            "ipam",
            json!({"type": "host-local", "subnet": "10.86.0.0/24",
                   "dataDir": network.config()["ipam"]["dataDir"],
                   "routes": [{"dst": "198.51.100.0/24", "gw": "192.0.2.1"}]}),
        ),
        Some(c1.name()),
    );
    assert_eq!(reply.error_code(), 100, "{reply:?}");
    assert!(reply.message().contains("netlink"), "{reply:?}");
    assert!(
        !host.host_links().iter().any(|link| link.starts_with("vc")),
        "the veth was left"
    );
    // Nothing was left behind by the failures.
    assert!(network.allocated().is_empty(), "{:?}", network.allocated());
    assert!(host.ports().is_empty());
    assert!(!c1.links().contains(&"eth0".to_string()));

    // VERSION, and STATUS of a running switch.
    let version = call(
        &binary(),
        host.netns(),
        &[("CNI_COMMAND", "VERSION")],
        &json!({"cniVersion": "1.1.0"}),
    )
    .ok();
    assert_eq!(version["supportedVersions"], json!(["1.0.0", "1.1.0"]));
    assert_eq!(version["cniVersion"], "1.1.0");
    call(
        &binary(),
        host.netns(),
        &[("CNI_COMMAND", "STATUS")],
        &network.config(),
    )
    .ok();

    // A switch that is not running: ADD is 11 saying so (nothing allocated), STATUS is 50,
    // DEL still succeeds.
    let stopped = Network::vswitch("vt-not-running", "10.86.0.0/24", &json!({}));
    let reply = stopped.call_with(
        host.netns(),
        "ADD",
        "c1",
        Some(c1.name()),
        &stopped.config(),
    );
    assert_eq!(reply.error_code(), 11, "{reply:?}");
    assert!(
        reply.message().contains("vt-not-running is not running"),
        "{reply:?}"
    );
    assert!(stopped.allocated().is_empty());
    let status = call(
        &binary(),
        host.netns(),
        &[("CNI_COMMAND", "STATUS")],
        &stopped.config(),
    );
    assert_eq!(status.error_code(), 50, "{status:?}");
    stopped
        .call_with(
            host.netns(),
            "DEL",
            "c1",
            Some(c1.name()),
            &stopped.config(),
        )
        .ok();
}

#[test]
fn podman_containers_ping_each_other_through_vswitch() {
    let host = Host::new();
    let network = Network::vswitch(host.switch.name(), "10.87.0.0/24", &json!({"vlan": 10}));
    let plugin = binary();
    let podman = Podman::new(
        host.netns(),
        &network,
        plugin.parent().expect("a directory"),
    );
    let _a1 = podman.start("c1");
    let a2 = podman.start("c2");
    assert!(a2.starts_with("10.87.0."), "c2 got {a2:?}");
    let ports = host.ports();
    assert_eq!(
        ports.len(),
        2,
        "podman's containers are not both ports: {ports:?}"
    );
    podman.ok(&["exec", "c1", "ping", "-c", "3", "-W", "2", &a2]);
    let forwarded: u64 = ports
        .iter()
        .map(|port| {
            let name = port["name"].as_str().expect("a name");
            host.switch.stats_of(name)["forwarded"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    assert!(
        forwarded >= 6,
        "the pings did not go through the switch ({forwarded} forwarded)"
    );
    // Removing the containers is podman's DEL: the ports go and the addresses are released.
    podman.ok(&["rm", "--force", "--time", "0", "c1", "c2"]);
    assert!(host.ports().is_empty(), "{:?}", host.ports());
    assert!(network.allocated().is_empty(), "{:?}", network.allocated());
}

#[test]
fn bridge_plugin_comparison_forwards_on_every_path() {
    // A smoke run by default; VSWITCH_CNI_BENCH_SECS=10 for the numbers in docs/benchmarks.md.
    let seconds = std::env::var("VSWITCH_CNI_BENCH_SECS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1);
    let paths = tests::bench::cni::measure(seconds, 100 * seconds);
    println!("load average {:.2}", tests::bench::environment::load());
    println!("| path | TCP Gbit/s | ping median µs | ping p99 µs |");
    for path in &paths {
        let tcp = path
            .tcp_gbit
            .as_ref()
            .unwrap_or_else(|error| panic!("{}: {error}", path.label));
        println!(
            "| {} | {tcp:.1} | {:.0} | {:.0} |",
            path.label,
            path.ping.median(),
            path.ping.quantile(0.99)
        );
        assert!(*tcp > 0.0, "{}: no TCP throughput", path.label);
        assert!(!path.ping.0.is_empty(), "{}: no ping came back", path.label);
    }
    assert!(paths.len() >= 2, "{paths:?}");
}
