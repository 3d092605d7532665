//! End-to-end: live changes to a running switch (control socket, SIGHUP) and hitless restarts,
//! with hosts in their own namespaces and real frames.
//!
//! Each test proves its claim with traffic that would show the disruption: a ping stream that
//! must lose nothing, or a sniffer that must (not) see a frame.

use std::{
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    command::{pings, pings_unfragmented, run_in},
    frames::{ethernet, has_marker, station},
    lab::{Lab, SWITCH_TABLE},
    ping::{PingStream, PingSummary},
    raw::RawSocket,
    switch::{Switch, vswitch_as_nobody_in},
};

const SNIFF: Duration = Duration::from_millis(800);

/// How long the switch may take to apply a change it was signalled about.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The message of a live command refused for lack of privileges.
const NEEDS_ROOT: &str = "needs root (CAP_NET_ADMIN, CAP_BPF)";

/// Runs a live command and returns its exit code and stderr.
fn live(switch: &Switch, args: &[&str]) -> (Option<i32>, String) {
    let output = switch.vswitch(args);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs a live command that must succeed.
fn live_ok(switch: &Switch, args: &[&str]) {
    let (code, stderr) = live(switch, args);
    assert_eq!(code, Some(0), "vswitch {} failed: {stderr}", args.join(" "));
}

/// `port show --json` without the counters: what a change of configuration shows in.
fn port_layout(switch: &Switch) -> Vec<Value> {
    switch
        .rows(&["port", "show"])
        .iter()
        .map(|port| {
            let fields = ["name", "ifindex", "mode", "vlan", "trunk", "native_vlan"];
            fields
                .iter()
                .map(|field| (field.to_string(), port[*field].clone()))
                .collect()
        })
        .collect()
}

/// The `port show --json` row of `port`, if listed.
fn port_row(switch: &Switch, port: &str) -> Option<Value> {
    switch
        .rows(&["port", "show"])
        .into_iter()
        .find(|row| row["name"] == port)
}

/// The `fdb show --json` entries for `mac`.
fn fdb_entries(switch: &Switch, mac: &str) -> Vec<Value> {
    switch
        .rows(&["fdb", "show"])
        .into_iter()
        .filter(|entry| entry["mac"] == mac)
        .collect()
}

/// Waits until `done` holds, failing with `what` after [`APPLY_TIMEOUT`].
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + APPLY_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `count` echo requests, `interval` apart, from `from` to `to`, and requires every one
/// answered.
fn assert_no_loss(from: &str, to: &str, interval: Duration, count: u32) {
    let summary = PingStream::start(from, to, interval, count).finish();
    assert_eq!(summary.lost(), 0, "{from} → {to}: {summary:?}");
}

/// Finishes `stream`, requiring that it outlasted the change made while it ran (so the change
/// happened under traffic) and lost nothing.
fn assert_stream_lossless(mut stream: PingStream, change: &str) -> PingSummary {
    assert!(
        stream.is_running(),
        "the ping stream ended before {change} was done: make it longer"
    );
    let summary = stream.finish();
    assert!(summary.transmitted > 0, "{summary:?}");
    assert_eq!(summary.lost(), 0, "pings lost across {change}: {summary:?}");
    summary
}

#[test]
fn ports_added_and_removed_live_disturb_no_traffic() {
    const CYCLES: usize = 20;
    let lab = Lab::new(3);
    let switch = Switch::start(&lab.switch_ns, &lab.config_of(&[(0, 1), (1, 1)]));
    let (a, c) = (lab.hosts[0].name(), lab.hosts[2].name());
    let third = lab.ports[2].as_str();
    assert!(pings(a, &Lab::address(1)));
    let stream = PingStream::start(a, &Lab::address(1), Duration::from_millis(2), 5000);
    let address = format!("{}/24", Lab::address(2));
    for cycle in 0..CYCLES {
        live_ok(
            &switch,
            &["port", "add", third, "--netns", c, "--address", &address],
        );
        assert_no_loss(c, &Lab::address(0), Duration::from_millis(50), 3);
        live_ok(&switch, &["port", "del", third]);
        assert!(
            !lab.switch_ns.links().contains(&lab.ports[2]),
            "cycle {cycle}: port del left the veth"
        );
        assert!(
            Path::new("/run/netns").join(c).exists(),
            "port del removed namespace {c}, which the switch did not create"
        );
    }
    let summary = assert_stream_lossless(stream, "the port churn");
    assert!(summary.transmitted >= 5000, "{summary:?}");
    assert!(port_row(&switch, third).is_none());
}

#[test]
fn static_fdb_entry_stops_flooding_until_removed() {
    let lab = Lab::new(3);
    let switch = lab.start();
    let silent = station(0x42);
    let silent_text = "02:00:5e:10:00:42";
    let [a, b, sniffer] = [0, 1, 2].map(|host| RawSocket::open(lab.hosts[host].name(), "eth0"));
    // Sends a frame for the silent station from host A; whether host B and the sniffer see it.
    let send = |marker: u32| {
        a.send(&ethernet(silent, station(1), marker));
        (
            b.receives(SNIFF, |frame| has_marker(frame, marker)),
            sniffer.receives(SNIFF, |frame| has_marker(frame, marker)),
        )
    };
    assert_eq!(send(0x5a01), (true, true), "unknown unicast is flooded");

    live_ok(
        &switch,
        &["fdb", "add", silent_text, "--port", &lab.ports[1]],
    );
    let entries = fdb_entries(&switch, silent_text);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["static"], true);
    assert_eq!(entries[0]["port"], lab.ports[1].as_str());
    assert_eq!(entries[0]["vlan"], 1);
    assert!(entries[0]["age_secs"].is_null(), "{entries:?}");
    assert_eq!(send(0x5a02), (true, false), "a static entry is not flooded");

    live_ok(&switch, &["fdb", "del", silent_text]);
    assert!(fdb_entries(&switch, silent_text).is_empty());
    assert_eq!(send(0x5a03), (true, true), "flooding again once removed");

    let (code, stderr) = live(
        &switch,
        &["fdb", "add", "02:00:5e:10:00", "--port", &lab.ports[1]],
    );
    assert_eq!(code, Some(2), "fdb add with a bad MAC: {stderr}");
    let (code, stderr) = live(&switch, &["fdb", "del", silent_text]);
    assert_eq!(code, Some(2), "fdb del of an absent entry: {stderr}");
}

#[test]
fn fdb_file_is_checked_whole_before_its_entries_are_added_in_batches() {
    let lab = Lab::new(2);
    let switch = Switch::start(&lab.switch_ns, &lab.config_of(&[(0, 1), (1, 10)]));
    let (untagged, in_vlan_10) = (lab.ports[0].as_str(), lab.ports[1].as_str());
    // More entries than one control message holds, so the file travels in several chunks.
    let good: String = (0..5000u32)
        .map(|n| {
            let [_, a, b, c] = n.to_be_bytes();
            format!("06:be:00:{a:02x}:{b:02x}:{c:02x} 1 {untagged}\n")
        })
        .collect();
    let file = std::env::temp_dir().join(tests::names::unique("fdb"));
    let file_text = file.display().to_string();
    let statics = || {
        switch
            .rows(&["fdb", "show"])
            .into_iter()
            .filter(|entry| entry["static"] == true)
            .count()
    };
    let add = |text: &str| {
        std::fs::write(&file, text).expect("writing the FDB file");
        switch.vswitch(&["fdb", "add", "--file", &file_text])
    };

    let syntax =
        add("# comment\n02:00:00:00:00:01 1 p # trailing\nzz 1 p\n02:00:00:00:00:02 0 p\n");
    let stderr = String::from_utf8_lossy(&syntax.stderr);
    assert_eq!(syntax.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{file_text}:3: ")), "{stderr}");
    assert!(stderr.contains(&format!("{file_text}:4: ")), "{stderr}");

    // The last line is refused by the agent, in the last chunk: nothing at all is written.
    let semantic = add(&format!("{good}02:00:00:00:00:03 1 {in_vlan_10}\n"));
    let stderr = String::from_utf8_lossy(&semantic.stderr);
    assert_eq!(semantic.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{file_text}:5001: port {in_vlan_10} is not a member of VLAN 1"
        )),
        "{stderr}"
    );
    assert_eq!(statics(), 0);

    let added = add(&good);
    assert!(added.status.success(), "{added:?}");
    assert_eq!(
        String::from_utf8_lossy(&added.stdout).trim(),
        format!("added 5000 static FDB entries from {file_text}")
    );
    assert_eq!(statics(), 5000);
    std::fs::remove_file(&file).expect("removing the FDB file");
}

#[test]
fn sighup_applies_the_rewritten_config_and_refuses_a_broken_one() {
    let lab = Lab::new(3);
    let mut switch = Switch::start(&lab.switch_ns, &lab.config_of(&[(0, 1), (1, 1)]));
    let (a, new_port) = (lab.hosts[0].name(), lab.ports[2].as_str());
    assert!(pings(a, &Lab::address(1)));

    // A new port (host 2) and host 1 moved to VLAN 20.
    switch.rewrite_config(&lab.config_of(&[(0, 1), (1, 20), (2, 1)]));
    switch.signal(libc::SIGHUP);
    wait_for("the new port is listed", || {
        port_row(&switch, new_port).is_some()
    });
    wait_for("host 1's port is in VLAN 20", || {
        port_row(&switch, &lab.ports[1]).is_some_and(|row| row["vlan"] == 20)
    });
    assert!(
        pings(a, &Lab::address(2)),
        "the new port carries no traffic"
    );
    assert!(
        !pings(a, &Lab::address(1)),
        "host 1 is in VLAN 20 now, but host A (VLAN 1) still reaches it"
    );

    // A syntax error on line 4: refused, and the switch keeps forwarding as it was.
    let layout = port_layout(&switch);
    switch.rewrite_config(&format!("{SWITCH_TABLE}\n[[port]\nname = \"x\"\n"));
    let stream = PingStream::start(a, &Lab::address(2), Duration::from_millis(10), 300);
    thread::sleep(Duration::from_millis(500));
    switch.signal(libc::SIGHUP);
    let (code, stderr) = live(&switch, &["reload"]);
    assert_eq!(code, Some(2), "reload of a broken file: {stderr}");
    let location = format!("{}:4:", switch.config_path().display());
    assert!(stderr.contains(&location), "no {location} in: {stderr}");
    assert_stream_lossless(stream, "a refused reload");
    assert!(switch.is_running(), "the agent exited on a broken file");
    assert_eq!(
        port_layout(&switch),
        layout,
        "a refused reload changed ports"
    );
}

#[test]
fn mtu_changes_in_place_by_reload_and_comes_with_port_add() {
    const JUMBO: u32 = 9000 - 28;
    let lab = Lab::new(3);
    let config = |mtus: [&str; 2]| {
        format!(
            "{SWITCH_TABLE}{}{}{}{}",
            lab.port_table(0, 1),
            mtus[0],
            lab.port_table(1, 1),
            mtus[1]
        )
    };
    let switch = Switch::start(&lab.switch_ns, &config(["", ""]));
    let (a, b) = (lab.hosts[0].name(), lab.hosts[1].name());

    // What a user without the option does: raise the namespace ends. The switch-side ends stay
    // at 1500, and jumbo frames are lost.
    for host in [a, b] {
        run_in(host, &["ip", "link", "set", "eth0", "mtu", "9000"]);
    }
    assert!(pings(a, &Lab::address(1)));
    assert!(
        !pings_unfragmented(a, &Lab::address(1), JUMBO),
        "jumbo frames crossed switch-side ends of 1500"
    );

    // A reload that changes only the MTU updates both ends in place.
    let layout = port_layout(&switch);
    switch.rewrite_config(&config(["mtu = 9000\n", "mtu = 9000\n"]));
    let reload = switch.vswitch(&["reload"]);
    let said = String::from_utf8_lossy(&reload.stdout);
    assert!(reload.status.success(), "reload failed: {said}");
    assert!(
        said.contains(&format!("updated port {}", lab.ports[1])),
        "{said}"
    );
    assert_eq!(port_layout(&switch), layout, "the ports were re-created");
    assert_eq!(lab.switch_ns.mtu(&lab.ports[0]), 9000);
    assert!(pings_unfragmented(a, &Lab::address(1), JUMBO));

    // `port add --mtu` creates both ends with it.
    let (c, third) = (lab.hosts[2].name(), lab.ports[2].as_str());
    let address = format!("{}/24", Lab::address(2));
    live_ok(
        &switch,
        &[
            "port",
            "add",
            third,
            "--netns",
            c,
            "--address",
            &address,
            "--mtu",
            "9000",
        ],
    );
    assert_eq!(
        (lab.hosts[2].mtu("eth0"), lab.switch_ns.mtu(third)),
        (9000, 9000)
    );
    assert!(pings_unfragmented(a, &Lab::address(2), JUMBO));

    // Without the option again, a created veth has the kernel's 1500 on both ends.
    switch.rewrite_config(&config(["mtu = 9000\n", ""]));
    live_ok(&switch, &["reload"]);
    assert_eq!(
        (lab.hosts[1].mtu("eth0"), lab.switch_ns.mtu(&lab.ports[1])),
        (1500, 1500)
    );
    assert!(pings(a, &Lab::address(1)));

    // Out of range: refused for the reason a config file would be, nothing created.
    let (code, stderr) = live(
        &switch,
        &[
            "port",
            "add",
            "vtnone",
            "--existing",
            "--hook",
            "tc",
            "--mtu",
            "65536",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("mtu must be from 68 to 65535"), "{stderr}");
}

/// What a restart must keep, as seen from outside the agent.
#[derive(Debug)]
struct Observed {
    /// `fdb show --json` entries.
    fdb: Vec<Value>,
    /// Per port: its name, ifindex and carrier_changes in the switch namespace.
    links: Vec<(String, String, String)>,
    /// Per port: its rx_packets counter.
    rx_packets: Vec<u64>,
}

impl Observed {
    fn take(lab: &Lab, switch: &Switch) -> Self {
        let links = lab
            .ports
            .iter()
            .map(|port| {
                let read = |file: &str| {
                    let path = format!("/sys/class/net/{port}/{file}");
                    run_in(lab.switch_ns.name(), &["cat", &path])
                        .trim()
                        .to_string()
                };
                (port.clone(), read("ifindex"), read("carrier_changes"))
            })
            .collect();
        let rx_packets = lab
            .ports
            .iter()
            .map(|port| {
                port_row(switch, port).expect("every port is listed")["rx_packets"]
                    .as_u64()
                    .expect("rx_packets is a number")
            })
            .collect();
        Self {
            fdb: switch.rows(&["fdb", "show"]),
            links,
            rx_packets,
        }
    }

    /// Checks that `after` kept what this observation saw: FDB entries (with the age of
    /// `silent`, a station that sends nothing more, not reset), the same interfaces without a
    /// carrier change, counters that went on from `pinged` packets more on each port.
    fn assert_kept_by(&self, after: &Self, silent: &str, pinged: u64) {
        for entry in &self.fdb {
            let kept = after
                .fdb
                .iter()
                .find(|other| {
                    other["mac"] == entry["mac"]
                        && other["vlan"] == entry["vlan"]
                        && other["port"] == entry["port"]
                })
                .unwrap_or_else(|| panic!("FDB entry {entry} is gone: {:?}", after.fdb));
            // The hosts' entries are refreshed by the pings; the silent station's only ages.
            if entry["mac"] == silent {
                assert!(
                    kept["age_secs"].as_u64() >= entry["age_secs"].as_u64(),
                    "FDB age reset: {entry} became {kept}"
                );
            }
        }
        assert_eq!(self.links, after.links, "ports recreated or flapped");
        for (port, (before, now)) in self.rx_packets.iter().zip(&after.rx_packets).enumerate() {
            assert!(
                *now >= before + pinged,
                "port {port}: rx_packets went from {before} to {now} over {pinged} pings: reset"
            );
        }
    }
}

/// The station [`restart_is_hitless`] makes the switch learn from a single frame.
const SILENT: &str = "02:00:5e:10:00:07";

/// Two hosts on a switch started with `nsenter` and `first_options`; a ping stream of 100
/// packets a second runs while `interrupt` ends the agent and a new one (plain `run`) adopts
/// its state. Nothing may be lost, nothing reset. Then a normal stop removes everything.
fn restart_is_hitless(first_options: &[&str], interrupt: impl FnOnce(&mut Switch)) {
    let lab = Lab::new(2);
    let mut switch = Switch::start_pinned(&lab.switch_ns, &lab.config(|_| 1), first_options);
    let a = lab.hosts[0].name();
    assert!(pings(a, &Lab::address(1)));
    // A silent station: its entry ages from now on, as nothing refreshes it.
    RawSocket::open(a, "eth0").send(&ethernet(station(99), station(7), 0x7e57));
    thread::sleep(Duration::from_millis(2100));
    let before = Observed::take(&lab, &switch);
    assert!(
        before
            .fdb
            .iter()
            .any(|entry| entry["mac"] == SILENT && entry["age_secs"].as_u64() >= Some(2)),
        "the silent station is not learned: {:?}",
        before.fdb
    );

    let stream = PingStream::start(a, &Lab::address(1), Duration::from_millis(10), 1000);
    thread::sleep(Duration::from_millis(1000));
    interrupt(&mut switch);
    switch.restart(&[]);
    let summary = assert_stream_lossless(stream, "the restart");
    assert!(summary.transmitted >= 1000, "{summary:?}");
    let after = Observed::take(&lab, &switch);
    before.assert_kept_by(&after, SILENT, summary.transmitted);

    let name = switch.name().to_string();
    assert!(switch.stop().success());
    assert_removed(&lab, &name);
}

/// Checks that instance `name` left nothing behind: record, socket, pins, port interfaces.
fn assert_removed(lab: &Lab, name: &str) {
    let record = Path::new(vswitch::state::RUN_DIR).join(format!("{name}.json"));
    let leftovers = [
        record,
        vswitch::control::socket_path(name),
        vswitch::state::pin_dir(name),
    ];
    for path in leftovers {
        assert!(!path.exists(), "a normal stop left {}", path.display());
    }
    let links = lab.switch_ns.links();
    for port in &lab.ports {
        assert!(!links.contains(port), "a normal stop left port {port}");
    }
}

#[test]
fn restart_after_sigkill_is_hitless() {
    restart_is_hitless(&[], Switch::kill);
}

#[test]
fn restart_after_stop_with_keep_is_hitless() {
    restart_is_hitless(&["--keep"], |switch| {
        assert!(switch.halt().success(), "run --keep did not stop cleanly");
    });
}

#[test]
fn control_socket_is_root_only() {
    let lab = Lab::new(1);
    let switch = lab.start();
    let socket = vswitch::control::socket_path(switch.name());
    let metadata = std::fs::metadata(&socket).expect("the control socket exists");
    assert!(metadata.file_type().is_socket(), "{}", socket.display());
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o600);

    let refused = vswitch_as_nobody_in(
        lab.switch_ns.name(),
        &["--name", switch.name(), "port", "del", &lab.ports[0]],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a non-root port del succeeded");
    assert!(stderr.contains(NEEDS_ROOT), "{stderr}");
    assert!(
        port_row(&switch, &lab.ports[0]).is_some(),
        "the port was removed"
    );
}
