//! VXLAN end to end: vswitch as a VTEP between simulated hosts, with the Linux kernel's own
//! vxlan device as the peer, over IPv4 and IPv6 underlays; and two vswitch VTEPs with a
//! kernel one, where head-end replication must deliver each flooded frame exactly once.

use std::time::Duration;

use tests::{
    command::{pings, run_in},
    frames::{ethernet, has_marker},
    overlay::{Family, Overlay, VNI},
    raw::RawSocket,
};

/// Bytes iperf3 must move in each direction for TCP to count as working.
const TCP_BYTES: u64 = 10_000_000;

/// Host 1 runs vswitch, host 2 the kernel's vxlan device in a Linux bridge.
fn vswitch_and_kernel(family: Family) -> Overlay {
    let mut overlay = Overlay::new(family, 2);
    overlay.kernel_vtep(2);
    overlay.vswitch_vtep(1);
    overlay
}

/// Bytes an iperf3 client in `from` sent to the server at `to` (in namespace `server`) in 2 s.
fn tcp_bytes(server: &str, from: &str, to: &str) -> u64 {
    let mut daemon = std::process::Command::new("ip")
        .args(["netns", "exec", server, "iperf3", "-s", "-1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting iperf3 -s");
    std::thread::sleep(Duration::from_millis(300));
    let report = run_in(from, &["iperf3", "-c", to, "-t", "2", "-J"]);
    let _ = daemon.wait();
    let report: serde_json::Value = serde_json::from_str(&report).expect("iperf3 -J prints JSON");
    report["end"]["sum_received"]["bytes"]
        .as_u64()
        .expect("iperf3 reports received bytes")
}

fn interoperates_with_the_kernel_vxlan(family: Family) {
    let overlay = vswitch_and_kernel(family);
    let (ours, theirs) = (overlay.host(1), overlay.host(2));
    assert!(
        pings(ours.endpoint.name(), &theirs.address()),
        "vswitch → kernel"
    );
    assert!(
        pings(theirs.endpoint.name(), &ours.address()),
        "kernel → vswitch"
    );
    // ARP went through the tunnel both ways.
    let neighbours = run_in(theirs.endpoint.name(), &["ip", "-j", "neigh", "show"]);
    assert!(neighbours.contains(&ours.mac()), "{neighbours}");
    // The kernel learned our endpoint behind our VTEP.
    let learned = run_in(
        theirs.ns.name(),
        &["bridge", "-j", "fdb", "show", "dev", "vx0"],
    );
    let learned: serde_json::Value = serde_json::from_str(&learned).unwrap();
    assert!(
        learned
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| { entry["mac"] == ours.mac() && entry["dst"] == family.vtep(1).as_str() }),
        "kernel FDB: {learned}"
    );
    // And we learned theirs behind theirs, with the VNI.
    let switch = ours.switch();
    let entry = switch
        .rows(&["fdb", "show"])
        .into_iter()
        .find(|entry| entry["mac"] == theirs.mac())
        .expect("the kernel side's endpoint is learned");
    assert_eq!(entry["remote"], family.vtep(2).as_str());
    assert_eq!(entry["vni"], VNI);
    assert_eq!(entry["port"], format!("vxlan{VNI}").as_str());
    // TCP with default offloads, both ways.
    let sent = tcp_bytes(
        theirs.endpoint.name(),
        ours.endpoint.name(),
        &theirs.address(),
    );
    assert!(sent > TCP_BYTES, "vswitch → kernel moved {sent} bytes");
    let sent = tcp_bytes(
        ours.endpoint.name(),
        theirs.endpoint.name(),
        &ours.address(),
    );
    assert!(sent > TCP_BYTES, "kernel → vswitch moved {sent} bytes");
    let tunnel = switch.stats_of(&format!("vxlan{VNI}"));
    assert!(tunnel["encapsulated"].as_u64() > Some(1000), "{tunnel}");
    assert!(tunnel["decapsulated"].as_u64() > Some(1000), "{tunnel}");
    assert_eq!(tunnel["dropped"], 0, "{tunnel}");
}

#[test]
fn vswitch_and_the_kernel_vxlan_interoperate_over_ipv4() {
    interoperates_with_the_kernel_vxlan(Family::V4);
}

#[test]
fn vswitch_and_the_kernel_vxlan_interoperate_over_ipv6() {
    interoperates_with_the_kernel_vxlan(Family::V6);
}

#[test]
fn a_flood_reaches_each_remote_vtep_exactly_once() {
    let mut overlay = Overlay::new(Family::V4, 3);
    overlay.kernel_vtep(3);
    overlay.vswitch_vtep(1);
    overlay.vswitch_vtep(2);
    for (from, to) in [(1, 2), (2, 1), (1, 3), (3, 2)] {
        assert!(
            pings(
                overlay.host(from).endpoint.name(),
                &overlay.host(to).address()
            ),
            "host {from} → host {to}"
        );
    }
    // One broadcast frame from host 1's endpoint: every other endpoint gets exactly one copy,
    // and exactly one encapsulated copy crosses the underlay to each other host.
    // Captured where each host receives from the underlay (packet sockets see frames before
    // the tc ingress hook).
    let wires: Vec<RawSocket> = (2..=3)
        .map(|n| RawSocket::open(overlay.host(n).ns.name(), "ul0"))
        .collect();
    let endpoints: Vec<RawSocket> = (2..=3)
        .map(|n| RawSocket::open(overlay.host(n).endpoint.name(), "eth0"))
        .collect();
    let sender = RawSocket::open(overlay.host(1).endpoint.name(), "eth0");
    let marker = 0x5eed_0001;
    let source = tests::frames::station(0x41);
    sender.send(&ethernet([0xff; 6], source, marker));
    let window = Duration::from_millis(500);
    for (n, wire) in (2..=3).zip(&wires) {
        let copies = wire
            .collect(window)
            .iter()
            .filter(|frame| frame.len() > 50 && has_marker(&frame[50..], marker))
            .count();
        assert_eq!(copies, 1, "encapsulated copies towards host {n}");
    }
    for (n, endpoint) in (2..=3).zip(&endpoints) {
        let copies = endpoint
            .collect(window)
            .iter()
            .filter(|frame| has_marker(frame, marker))
            .count();
        assert_eq!(copies, 1, "copies delivered to host {n}'s endpoint");
    }
    let stats = overlay.host(1).switch().stats_of(&format!("vxlan{VNI}"));
    assert!(stats["encapsulated"].as_u64() >= Some(2), "{stats}");
}

#[test]
fn tunnels_come_and_go_with_reloads_and_static_remote_entries_are_kept_in_their_vni() {
    let mut overlay = Overlay::new(Family::V4, 2);
    overlay.kernel_vtep(2);
    let with_tunnel = overlay.vswitch_config(1, "");
    let without: String = with_tunnel
        .split("[[vxlan]]")
        .next()
        .expect("a port section")
        .to_string();
    let host = &mut overlay.hosts[0];
    host.switch = Some(tests::switch::Switch::start(&host.ns, &without));
    let (ours, theirs) = (overlay.host(1), overlay.host(2));
    let switch = ours.switch();
    assert!(
        !pings(ours.endpoint.name(), &theirs.address()),
        "no tunnel yet"
    );
    switch.rewrite_config(&with_tunnel);
    let reload = switch.vswitch(&["reload"]);
    assert!(reload.status.success(), "{reload:?}");
    assert!(
        pings(ours.endpoint.name(), &theirs.address()),
        "after the reload"
    );
    // A static entry behind a VTEP: in the VNI's VLAN, and refused for a VNI that is not there.
    let add = switch.vswitch(&[
        "fdb",
        "add",
        "02:00:00:00:99:01",
        "--remote",
        "10.99.0.9",
        "--vni",
        "100",
    ]);
    assert!(add.status.success(), "{add:?}");
    let entry = switch
        .rows(&["fdb", "show"])
        .into_iter()
        .find(|entry| entry["mac"] == "02:00:00:00:99:01")
        .expect("the static remote entry");
    assert_eq!(entry["remote"], "10.99.0.9");
    assert_eq!(entry["vlan"], 10);
    assert_eq!(entry["static"], true);
    let wrong = switch.vswitch(&[
        "fdb",
        "add",
        "02:00:00:00:99:02",
        "--remote",
        "10.99.0.9",
        "--vni",
        "7",
    ]);
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("no VXLAN VNI 7"));
    // Taking the tunnel away takes its entries and counters with it.
    switch.rewrite_config(&without);
    let reload = switch.vswitch(&["reload"]);
    assert!(reload.status.success(), "{reload:?}");
    assert!(
        switch
            .rows(&["fdb", "show"])
            .iter()
            .all(|entry| entry["remote"].is_null()),
        "remote entries are gone"
    );
    assert!(
        switch
            .rows(&["stats"])
            .iter()
            .all(|row| row["vni"].is_null()),
        "the tunnel's counters are gone"
    );
    assert!(
        !pings(ours.endpoint.name(), &theirs.address()),
        "tunnel removed"
    );
}

#[test]
fn a_killed_and_restarted_vtep_keeps_the_tunnel_forwarding() {
    let mut overlay = Overlay::new(Family::V4, 2);
    overlay.kernel_vtep(2);
    overlay.vswitch_vtep_with(1, |ns, config| {
        tests::switch::Switch::start_pinned(ns, config, &[])
    });
    let (sender, address) = (
        overlay.host(1).endpoint.name().to_string(),
        overlay.host(2).address(),
    );
    assert!(pings(&sender, &address));
    let stream = tests::ping::PingStream::start(&sender, &address, Duration::from_millis(5), 600);
    std::thread::sleep(Duration::from_millis(500));
    let switch = overlay.hosts[0].switch.as_mut().expect("a vswitch host");
    switch.kill();
    std::thread::sleep(Duration::from_millis(500));
    switch.restart(&[]);
    let summary = stream.finish();
    assert_eq!(summary.lost(), 0, "{summary:?}");
    let entry = switch
        .rows(&["fdb", "show"])
        .into_iter()
        .find(|entry| entry["remote"] == "10.99.0.2");
    assert!(entry.is_some(), "the learned remote survives the restart");
}

#[test]
fn an_underlay_that_vanishes_takes_its_tunnels_down_and_the_agent_goes_on() {
    let mut overlay = vswitch_and_kernel(Family::V4);
    let host = overlay.host(1);
    assert!(pings(host.endpoint.name(), &overlay.host(2).address()));
    run_in(host.ns.name(), &["ip", "link", "del", "ul0"]);
    let switch = overlay.hosts[0].switch.as_mut().expect("a vswitch host");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while switch
        .rows(&["stats"])
        .iter()
        .any(|row| !row["vni"].is_null())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the tunnel is still listed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(switch.is_running(), "the agent survives its underlay");
    assert_eq!(
        switch.rows(&["port", "show"]).len(),
        1,
        "the port is untouched"
    );
}

#[test]
fn jumbo_frames_cross_a_jumbo_underlay_and_oversized_ports_are_refused() {
    let mut overlay = Overlay::with_mtu(Family::V4, 2, 9050);
    overlay.kernel_vtep(2);
    overlay.vswitch_vtep(1);
    let (ours, theirs) = (overlay.host(1), overlay.host(2));
    assert_eq!(ours.endpoint.mtu("eth0"), 9000, "the agent sets what fits");
    for (from, to) in [(ours, theirs), (theirs, ours)] {
        let jumbo = tests::command::succeeds_in(
            from.endpoint.name(),
            &[
                "ping",
                "-c",
                "2",
                "-i",
                "0.2",
                "-W",
                "1",
                "-M",
                "do",
                "-s",
                "8972",
                &to.address(),
            ],
        );
        assert!(
            jumbo,
            "8972-byte pings from host {} to host {}: {:#}\n{}\n{}",
            from.n,
            to.n,
            ours.switch().json(&["stats"]),
            run_in(theirs.ns.name(), &["ip", "-s", "link"]),
            run_in(overlay.network.name(), &["ip", "-s", "link"]),
        );
    }
    // A port asking for more than the tunnel carries is refused, and nothing is left of it.
    let spare = tests::netns::Netns::new(&tests::names::unique("sp"));
    let refused = ours.switch().vswitch(&[
        "port",
        "add",
        "vp9",
        "--netns",
        spare.name(),
        "--vlan",
        "10",
        "--mtu",
        "9001",
    ]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("VNI 100") && message.contains("9000"),
        "{message}"
    );
    assert!(
        ours.switch()
            .rows(&["port", "show"])
            .iter()
            .all(|port| port["name"] != "vp9")
    );
    assert!(
        spare.links().iter().all(|link| link != "eth0"),
        "the veth was rolled back"
    );
}
