//! End-to-end: `vswitch run` in a test namespace, hosts in their own namespaces, real frames.
//!
//! The switch runs inside a namespace the test creates (`ip netns exec SW vswitch run`), so
//! nothing touches the machine's own interfaces. Host namespaces are created by the test unless
//! a test is about the switch creating them itself.

use std::time::Duration;

use tests::{
    command::{pings, pings_unfragmented, run_in},
    frames::{ethernet, has_marker, station, tagged},
    lab::{Lab, SWITCH_TABLE},
    names,
    netns::Netns,
    raw::RawSocket,
    switch::{Switch, vswitch_in},
};

const SNIFF: Duration = Duration::from_millis(800);

#[test]
fn four_hosts_ping_each_other() {
    let lab = Lab::new(4);
    let _switch = lab.start();
    for (from, host) in lab.hosts.iter().enumerate() {
        for to in (0..4).filter(|to| *to != from) {
            assert!(
                pings(host.name(), &Lab::address(to)),
                "host {from} cannot ping host {to}"
            );
        }
    }
}

#[test]
fn fdb_shows_each_host_on_its_port() {
    let lab = Lab::new(4);
    let switch = lab.start();
    for to in 1..4 {
        assert!(pings(lab.hosts[0].name(), &Lab::address(to)));
    }
    for (host, port) in lab.hosts.iter().zip(&lab.ports) {
        let mac = host.mac("eth0");
        assert_eq!(
            Lab::fdb_port_of(&switch, &mac).as_deref(),
            Some(port.as_str())
        );
    }
    let entry = switch.json(&["fdb", "show"])[0].clone();
    assert_eq!(entry["vlan"], 1);
    assert_eq!(entry["static"], false);
    assert!(entry["age_secs"].as_u64().is_some_and(|age| age < 300));
}

#[test]
fn unknown_unicast_floods_and_learned_unicast_does_not() {
    let lab = Lab::new(3);
    let switch = lab.start();
    let sockets: Vec<RawSocket> = lab
        .hosts
        .iter()
        .map(|host| RawSocket::open(host.name(), "eth0"))
        .collect();
    // Unknown destination: both other hosts see it.
    sockets[0].send(&ethernet(station(99), station(1), 0xf100d));
    assert!(sockets[1].receives(SNIFF, |frame| has_marker(frame, 0xf100d)));
    assert!(sockets[2].receives(SNIFF, |frame| has_marker(frame, 0xf100d)));
    // station(1) is now learned behind host 0: a frame to it reaches host 0 only.
    sockets[1].send(&ethernet(station(1), station(2), 0x1ea7));
    assert!(sockets[0].receives(SNIFF, |frame| has_marker(frame, 0x1ea7)));
    assert!(!sockets[2].receives(SNIFF, |frame| has_marker(frame, 0x1ea7)));
    let stats = switch.stats_of(&lab.ports[1]);
    assert_eq!(stats["forwarded"], 1);
}

#[test]
fn moved_mac_is_relearned() {
    let lab = Lab::new(3);
    let switch = lab.start();
    let roaming = station(7);
    let mac = "02:00:5e:10:00:07";
    RawSocket::open(lab.hosts[0].name(), "eth0").send(&ethernet(station(98), roaming, 1));
    assert_eq!(
        Lab::fdb_port_of(&switch, mac).as_deref(),
        Some(lab.ports[0].as_str())
    );
    RawSocket::open(lab.hosts[2].name(), "eth0").send(&ethernet(station(98), roaming, 2));
    assert_eq!(
        Lab::fdb_port_of(&switch, mac).as_deref(),
        Some(lab.ports[2].as_str())
    );
    // Traffic to the station now goes to its new port.
    let old = RawSocket::open(lab.hosts[0].name(), "eth0");
    let new = RawSocket::open(lab.hosts[2].name(), "eth0");
    RawSocket::open(lab.hosts[1].name(), "eth0").send(&ethernet(roaming, station(2), 3));
    assert!(new.receives(SNIFF, |frame| has_marker(frame, 3)));
    assert!(!old.receives(SNIFF, |frame| has_marker(frame, 3)));
}

#[test]
fn vlans_isolate_hosts() {
    let lab = Lab::new(4);
    let _switch = Switch::start(&lab.switch_ns, &lab.config(|host| [10, 10, 20, 20][host]));
    assert!(pings(lab.hosts[0].name(), &Lab::address(1)));
    assert!(pings(lab.hosts[2].name(), &Lab::address(3)));
    assert!(!pings(lab.hosts[0].name(), &Lab::address(2)));
    assert!(!pings(lab.hosts[1].name(), &Lab::address(3)));
}

#[test]
fn tcp_works_with_default_offloads() {
    let lab = Lab::new(2);
    let _switch = lab.start();
    run_in(
        lab.hosts[1].name(),
        &["iperf3", "--server", "--one-off", "--daemon"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let report = run_in(
        lab.hosts[0].name(),
        &[
            "iperf3",
            "--client",
            &Lab::address(1),
            "--time",
            "2",
            "--json",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&report).expect("iperf3 JSON");
    let received = report["end"]["sum_received"]["bytes"].as_u64().unwrap_or(0);
    assert!(
        received > 10_000_000,
        "only {received} bytes of TCP went through"
    );
}

/// A remote host, 10.77.0.200, behind a veth of the switch namespace for an `existing = true`
/// port: the remote's namespace and the uplink's name.
fn remote_behind_uplink(lab: &Lab) -> (Netns, String) {
    let remote = Netns::new(&names::unique("r"));
    let uplink = names::unique("u");
    lab.switch_ns.veth_to(&uplink, &remote, "eth0");
    remote.address("eth0", "10.77.0.200/24");
    (remote, uplink)
}

#[test]
fn xdp_uplink_switches_to_tc_ports() {
    let lab = Lab::new(1);
    let (remote, uplink) = remote_behind_uplink(&lab);
    let config = format!(
        "{}\n[[port]]\nname = \"{uplink}\"\nexisting = true\n",
        lab.config(|_| 1)
    );
    let switch = Switch::start(&lab.switch_ns, &config);
    let ports = switch.json(&["port", "show"]);
    let uplink_row = ports
        .as_array()
        .unwrap()
        .iter()
        .find(|port| port["name"] == uplink.as_str())
        .expect("the uplink is a port")
        .clone();
    assert_eq!(uplink_row["hook"], "xdp");
    assert!(pings(remote.name(), &Lab::address(0)));
    assert!(pings(lab.hosts[0].name(), "10.77.0.200"));
    assert!(switch.stats_of(&uplink)["rx_packets"].as_u64().unwrap() > 0);
}

#[test]
fn jumbo_frames_cross_ports_with_an_mtu() {
    use vswitch::config::mtu::XDP_MAX;
    // Hosts 0 and 1 on veths the switch creates and a remote behind an existing veth, all tc
    // ports of mtu 9000; host 2 on an XDP port at the XDP limit, so every veth peer carries the
    // pass-through program too (a single-buffer one would cap the switch-side ends at 3506).
    let lab = Lab::new(3);
    let (remote, uplink) = remote_behind_uplink(&lab);
    run_in(remote.name(), &["ip", "link", "set", "eth0", "mtu", "9000"]);
    let config = format!(
        "{SWITCH_TABLE}{}mtu = 9000\n{}mtu = 9000\n{}hook = \"xdp\"\nmtu = {XDP_MAX}\n\n\
         [[port]]\nname = \"{uplink}\"\nexisting = true\nhook = \"tc\"\nmtu = 9000\n",
        lab.port_table(0, 1),
        lab.port_table(1, 1),
        lab.port_table(2, 1),
    );
    let switch = Switch::start(&lab.switch_ns, &config);
    for (host, mtu) in [(0, 9000), (1, 9000), (2, u64::from(XDP_MAX))] {
        assert_eq!(lab.hosts[host].mtu("eth0"), mtu, "host {host}'s end");
        assert_eq!(
            lab.switch_ns.mtu(&lab.ports[host]),
            mtu,
            "host {host}'s switch-side end"
        );
    }
    assert_eq!(lab.switch_ns.mtu(&uplink), 9000);
    // 28 bytes of IPv4 and ICMP headers: packets of exactly the MTU.
    let a = lab.hosts[0].name();
    assert!(pings_unfragmented(a, &Lab::address(1), 9000 - 28));
    assert!(pings_unfragmented(
        remote.name(),
        &Lab::address(0),
        9000 - 28
    ));
    assert!(pings_unfragmented(a, &Lab::address(2), XDP_MAX - 28));
    // The switch does not restore an existing interface's MTU.
    assert!(switch.stop().success());
    assert_eq!(lab.switch_ns.mtu(&uplink), 9000);
}

#[test]
fn stop_removes_every_device_and_namespace_it_created() {
    let switch_ns = Netns::new(&names::unique("s"));
    let host = names::unique("c");
    let port = names::unique("p");
    let config =
        format!("[[port]]\nname = \"{port}\"\nnetns = \"{host}\"\naddress = [\"10.77.0.1/24\"]\n");
    let switch = Switch::start(&switch_ns, &config);
    assert!(switch_ns.links().contains(&port));
    assert!(std::path::Path::new("/run/netns").join(&host).exists());
    let name = switch.name().to_string();
    assert!(switch.stop().success());
    assert!(
        !switch_ns.links().contains(&port),
        "the port's veth is left behind"
    );
    assert!(
        !std::path::Path::new("/run/netns").join(&host).exists(),
        "netns left behind"
    );
    let show = vswitch_in(switch_ns.name(), &["--name", &name, "port", "show"]);
    assert_eq!(show.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&show.stderr).contains("is not running"));
}

#[test]
fn bad_config_exits_2_with_file_and_line_and_creates_nothing() {
    let switch_ns = Netns::new(&names::unique("s"));
    // A new namespace may hold fallback devices besides lo (tunl0, sit0, ... once the tunnel
    // modules are loaded, as in the VM after the devices suite).
    let before = switch_ns.links();
    let path = std::env::temp_dir().join(format!("{}.toml", names::unique("bad")));
    let host = names::unique("c");
    let text = format!(
        "[[port]]\nname = \"{}\"\nnetns = \"{host}\"\n\n[[port]]\nname = \"x\"\nnetns = \"y\"\nvlan = 4095\n",
        names::unique("p")
    );
    std::fs::write(&path, text).unwrap();
    let path_text = path.display().to_string();
    for command in [["check", "--config"], ["run", "--config"]] {
        let output = vswitch_in(switch_ns.name(), &[command[0], command[1], &path_text]);
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("{path_text}:8: a VLAN ID must be from 1 to 4094")),
            "{stderr}"
        );
    }
    assert_eq!(
        switch_ns.links(),
        before,
        "nothing created in the switch namespace"
    );
    assert!(!std::path::Path::new("/run/netns").join(&host).exists());
    std::fs::remove_file(path).unwrap();
}

#[test]
fn failed_setup_rolls_back_what_it_created() {
    let switch_ns = Netns::new(&names::unique("s"));
    let other = Netns::new(&names::unique("o"));
    let taken = names::unique("t");
    switch_ns.veth_to(&taken, &other, "eth9");
    let host = names::unique("c");
    let first = names::unique("p");
    let config = format!(
        "[[port]]\nname = \"{first}\"\nnetns = \"{host}\"\n\n[[port]]\nname = \"{taken}\"\nnetns = \"{}\"\n",
        names::unique("c")
    );
    let path = std::env::temp_dir().join(format!("{}.toml", names::unique("rb")));
    std::fs::write(&path, config).unwrap();
    let output = vswitch_in(
        switch_ns.name(),
        &[
            "--name",
            &names::unique("sw"),
            "run",
            "--config",
            &path.display().to_string(),
        ],
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
    let links = switch_ns.links();
    assert!(
        !links.contains(&first),
        "the first port was not rolled back: {links:?}"
    );
    assert!(
        links.contains(&taken),
        "the interface that was there must stay"
    );
    assert!(!std::path::Path::new("/run/netns").join(&host).exists());
}

#[test]
fn port_whose_interface_disappears_is_dropped() {
    let mut lab = Lab::new(3);
    let switch = lab.start();
    assert!(pings(lab.hosts[0].name(), &Lab::address(1)));
    assert!(pings(lab.hosts[0].name(), &Lab::address(2)));
    let gone_mac = lab.hosts[1].mac("eth0");
    // Deleting the namespace deletes its eth0 and with it the switch's end of the veth.
    drop(lab.hosts.remove(1));
    let gone = lab.ports.remove(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let ports = switch.json(&["port", "show"]);
        let names: Vec<&str> = ports
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|port| port["name"].as_str())
            .collect();
        if !names.contains(&gone.as_str()) {
            assert_eq!(names, [lab.ports[0].as_str(), lab.ports[1].as_str()]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "port {gone} is still listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(Lab::fdb_port_of(&switch, &gone_mac), None);
    assert!(pings(lab.hosts[0].name(), &Lab::address(2)));
}

/// The VLAN ID of a frame's outer tag, if it has one.
fn vid(frame: &[u8]) -> Option<u16> {
    (frame.get(12..14) == Some(&[0x81, 0x00]))
        .then(|| u16::from_be_bytes([frame[14], frame[15]]) & 0x0fff)
}

#[test]
fn trunk_carries_access_vlans_tagged() {
    let lab = Lab::new(3);
    let switch = Switch::start(
        &lab.switch_ns,
        &lab.trunk_config(|host| [10, 20][host], "[10, 20]"),
    );
    let trunk = RawSocket::open(lab.hosts[2].name(), "eth0");
    let access10 = RawSocket::open(lab.hosts[0].name(), "eth0");
    let access20 = RawSocket::open(lab.hosts[1].name(), "eth0");
    // Untagged from the VLAN 10 access port: tagged 10 on the trunk, unseen in VLAN 20.
    access10.send(&ethernet(station(99), station(1), 0x10));
    assert!(trunk.receives(SNIFF, |frame| has_marker(frame, 0x10)
        && vid(frame) == Some(10)));
    assert!(!access20.receives(SNIFF, |frame| has_marker(frame, 0x10)));
    // Tagged 20 from the trunk: untagged on the VLAN 20 access port only.
    trunk.send(&tagged(station(98), station(3), 20, 0x20));
    assert!(access20.receives(SNIFF, |frame| has_marker(frame, 0x20)
        && vid(frame).is_none()));
    assert!(!access10.receives(SNIFF, |frame| has_marker(frame, 0x20)));
    // A VLAN the trunk does not carry is dropped and counted.
    trunk.send(&tagged(station(98), station(3), 30, 0x30));
    assert!(!access10.receives(SNIFF, |frame| has_marker(frame, 0x30)));
    let drops = &switch.stats_of(&lab.ports[2])["drops"];
    assert_eq!(drops["vlan_ingress"], 1);
}

#[test]
fn known_unicast_to_a_trunk_is_tagged() {
    let lab = Lab::new(2);
    let _switch = Switch::start(&lab.switch_ns, &lab.trunk_config(|_| 10, "[10]"));
    let trunk = RawSocket::open(lab.hosts[1].name(), "eth0");
    let access = RawSocket::open(lab.hosts[0].name(), "eth0");
    // The trunk host announces itself in VLAN 10, so its address is learned there.
    trunk.send(&tagged(station(97), station(5), 10, 0x40));
    assert!(access.receives(SNIFF, |frame| has_marker(frame, 0x40)
        && vid(frame).is_none()));
    access.send(&ethernet(station(5), station(1), 0x41));
    assert!(trunk.receives(SNIFF, |frame| has_marker(frame, 0x41)
        && vid(frame) == Some(10)));
}
