//! End-to-end: hostile hosts against `vswitch run`, each attack with real frames in namespaces,
//! measured with the defence and (where the defence is a setting) without it.
//!
//! Every namespace and interface name carries the tag `gd` (see `Lab::tagged`). The numbers each
//! test prints (run with `--nocapture`) are the ones in `docs/reliability.md` (Attacks).

use std::time::{Duration, Instant};

use tests::{
    command::{pings, pings_within, run_in},
    flood::{self, RandomMacs},
    frames::{Mac, ethernet, has_marker, station},
    lab::{Lab, SWITCH_TABLE},
    names,
    netns::Netns,
    ping::{PingStream, PingSummary},
    raw::RawSocket,
    switch::Switch,
};
use vswitch_common::mac;

const SNIFF: Duration = Duration::from_millis(800);

/// New source addresses the attacker sends: `$VSWITCH_ATTACK_MACS` (`cargo xtask test --long`
/// sets the full count, a million), else 10^5.
fn flood_sources() -> usize {
    std::env::var("VSWITCH_ATTACK_MACS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(100_000)
}

/// The attacker's `max_macs`.
const LIMIT: u64 = 64;

/// A MAC address as `fdb show` prints it.
fn colons(mac: &Mac) -> String {
    mac::Colons(mac).to_string()
}

/// The wire form of a MAC address as `ip link` prints it.
fn parse(text: &str) -> Mac {
    mac::parse(text).unwrap_or_else(|| panic!("{text:?} is no MAC address"))
}

/// A lab's config where host `host`'s port table is followed by `extra` (one `key = value`
/// per line), every port in VLAN 1.
fn config_with(lab: &Lab, extras: &[(usize, &str)]) -> String {
    let mut config = String::from(SWITCH_TABLE);
    for host in 0..lab.hosts.len() {
        config.push_str(&lab.port_table(host, 1));
        for (_, extra) in extras.iter().filter(|(with, _)| *with == host) {
            config.push_str(extra);
            config.push('\n');
        }
    }
    config
}

/// A counter of port `port` from `stats --json`.
fn counter(switch: &Switch, port: &str, name: &str) -> u64 {
    switch.stats_of(port)[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name}"))
}

/// A drop counter of port `port` by reason.
fn drops(switch: &Switch, port: &str, reason: &str) -> u64 {
    switch.stats_of(port)["drops"][reason]
        .as_u64()
        .unwrap_or_else(|| panic!("no drop reason {reason}"))
}

/// Waits until the port's received-frame counter stops moving (the switch has taken what the
/// sender's queue held); returns it.
fn settled_rx(switch: &Switch, port: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = counter(switch, port, "rx_packets");
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = counter(switch, port, "rx_packets");
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// How many FDB entries are behind port `port`.
fn entries_on(switch: &Switch, port: &str) -> usize {
    switch
        .rows(&["fdb", "show"])
        .iter()
        .filter(|entry| entry["port"] == port)
        .count()
}

#[test]
fn mac_flood_is_capped_by_max_macs_and_legitimate_hosts_keep_talking() {
    let flood = flood_sources();
    // Host 0 attacks through a port with max_macs; hosts 1 and 2 are legitimate; host 3 floods
    // through a port without a limit, to show what the limit prevents.
    let lab = Lab::tagged(4, "gd");
    let limit = format!("max_macs = {LIMIT}");
    let switch = Switch::start(&lab.switch_ns, &config_with(&lab, &[(0, &limit)]));
    let (attacker, unlimited) = (&lab.ports[0], &lab.ports[3]);
    assert!(pings(lab.hosts[1].name(), &Lab::address(2)));
    let legitimate: Vec<Mac> = [1, 2]
        .map(|host| parse(&lab.hosts[host].mac("eth0")))
        .into();
    let sockets: Vec<RawSocket> = lab
        .hosts
        .iter()
        .map(|host| RawSocket::open(host.name(), "eth0"))
        .collect();

    let started = Instant::now();
    let mut sources = RandomMacs::new(0x5eed);
    flood::from_new_sources(&sockets[0], station(200), &mut sources, flood);
    let sent_in = started.elapsed();
    let received = settled_rx(&switch, attacker);
    let learned = counter(&switch, attacker, "learned");
    let refused = counter(&switch, attacker, "learn_refused");
    eprintln!(
        "max_macs {LIMIT}: {flood} new sources sent in {sent_in:.1?}, {received} received, \
         {learned} learned, {refused} refused"
    );
    // Two CPUs learning at the same moment may both pass the check: one over at most.
    assert!(
        (LIMIT..=LIMIT + 1).contains(&learned),
        "learned {learned}, limit {LIMIT}"
    );
    assert!(
        refused >= flood as u64 / 2,
        "only {refused} refusals for {flood} new sources ({received} received)"
    );
    let held = entries_on(&switch, attacker);
    assert!(
        held as u64 <= LIMIT + 1,
        "{held} entries behind the attacker"
    );
    let shown = switch
        .rows(&["port", "show"])
        .into_iter()
        .find(|port| port["name"] == attacker.as_str())
        .expect("the attacker's port is shown");
    assert_eq!(
        (shown["max_macs"].as_u64(), shown["macs"].as_u64()),
        (Some(LIMIT), Some(held as u64))
    );

    // The legitimate hosts keep their entries, and their unicast is not flooded to others.
    // (The flood filled the sniffers' queues: empty them first.)
    for socket in &sockets {
        socket.collect(Duration::from_millis(200));
    }
    for (host, mac) in [1, 2].into_iter().zip(&legitimate) {
        assert_eq!(
            Lab::fdb_port_of(&switch, &colons(mac)).as_deref(),
            Some(lab.ports[host].as_str())
        );
    }
    sockets[1].send(&ethernet(legitimate[1], legitimate[0], 0xb0b));
    assert!(sockets[2].receives(SNIFF, |frame| has_marker(frame, 0xb0b)));
    assert!(!sockets[0].receives(SNIFF, |frame| has_marker(frame, 0xb0b)));
    assert!(pings(lab.hosts[1].name(), &Lab::address(2)));

    // `fdb del` of one of the attacker's entries frees exactly one place.
    let victim = switch
        .rows(&["fdb", "show"])
        .into_iter()
        .find(|entry| entry["port"] == attacker.as_str())
        .expect("the attacker holds entries");
    let victim = victim["mac"].as_str().expect("mac").to_string();
    assert!(switch.vswitch(&["fdb", "del", &victim]).status.success());
    flood::from_new_sources(&sockets[0], station(200), &mut sources, 10);
    settled_rx(&switch, attacker);
    assert_eq!(counter(&switch, attacker, "learned"), learned + 1);
    assert_eq!(entries_on(&switch, attacker), held);

    // Without a limit, the same kind of flood takes an entry per frame.
    let unlimited_flood = flood / 10;
    flood::from_new_sources(&sockets[3], station(200), &mut sources, unlimited_flood);
    let received = settled_rx(&switch, unlimited);
    let learned = counter(&switch, unlimited, "learned");
    eprintln!(
        "no limit: {unlimited_flood} new sources sent, {received} received, {learned} learned"
    );
    assert!(learned >= unlimited_flood as u64 / 2, "learned {learned}");
    assert!(entries_on(&switch, unlimited) >= unlimited_flood / 2);
}

#[test]
fn a_locked_port_forwards_only_its_allowed_addresses() {
    let lab = Lab::tagged(3, "gd");
    let allowed = format!(
        "locked = true\nallowed_macs = [\"{}\"]",
        colons(&station(1))
    );
    let switch = Switch::start(&lab.switch_ns, &config_with(&lab, &[(0, &allowed)]));
    let locked = &lab.ports[0];
    let sockets: Vec<RawSocket> = lab
        .hosts
        .iter()
        .map(|host| RawSocket::open(host.name(), "eth0"))
        .collect();
    // The host's own address is not allowed: it cannot even ping.
    assert!(!pings(lab.hosts[0].name(), &Lab::address(1)));
    sockets[0].send(&ethernet(station(9), station(1), 0xa11));
    assert!(sockets[1].receives(SNIFF, |frame| has_marker(frame, 0xa11)));
    sockets[0].send(&ethernet(station(9), station(2), 0xbad));
    assert!(!sockets[1].receives(SNIFF, |frame| has_marker(frame, 0xbad)));
    assert!(drops(&switch, locked, "locked") >= 1);
    assert_eq!(counter(&switch, locked, "learned"), 0);
    // Replies to the allowed address reach it: its static entry points at the port.
    sockets[1].send(&ethernet(station(1), station(8), 0x4e1));
    assert!(sockets[0].receives(SNIFF, |frame| has_marker(frame, 0x4e1)));
    assert!(!sockets[2].receives(SNIFF, |frame| has_marker(frame, 0x4e1)));
    let entry = switch
        .rows(&["fdb", "show"])
        .into_iter()
        .find(|entry| entry["mac"] == colons(&station(1)))
        .expect("the allowed address has an entry");
    assert_eq!(entry["static"], true);
    assert_eq!(entry["port"], locked.as_str());

    // The same through `port add`, live.
    let live = Lab::tagged(1, "gd");
    let port = &live.ports[0];
    let netns = live.hosts[0].name();
    let added = switch.vswitch(&[
        "port",
        "add",
        port,
        "--netns",
        netns,
        "--vlan",
        "1",
        "--locked",
        "--allowed-mac",
        &colons(&station(3)),
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let socket = RawSocket::open(netns, "eth0");
    socket.send(&ethernet(station(9), station(3), 0x11fe));
    assert!(sockets[1].receives(SNIFF, |frame| has_marker(frame, 0x11fe)));
    socket.send(&ethernet(station(9), station(4), 0xdead));
    assert!(!sockets[1].receives(SNIFF, |frame| has_marker(frame, 0xdead)));
    // The host's own stack sends too (neighbour discovery), from its own address: also refused.
    assert!(drops(&switch, port, "locked") >= 1);
    assert!(switch.vswitch(&["port", "del", port]).status.success());
}

#[test]
fn a_static_station_cannot_be_stolen_from_another_port() {
    let lab = Lab::tagged(3, "gd");
    let switch = Switch::start(&lab.switch_ns, &config_with(&lab, &[]));
    let sockets: Vec<RawSocket> = lab
        .hosts
        .iter()
        .map(|host| RawSocket::open(host.name(), "eth0"))
        .collect();
    let owner = parse(&lab.hosts[1].mac("eth0"));
    let added = switch.vswitch(&["fdb", "add", &colons(&owner), "--port", &lab.ports[1]]);
    assert!(added.status.success());
    // Host 0 claims host 1's address: the frame is dropped and the entry stays.
    sockets[0].send(&ethernet(station(9), owner, 0x5700f));
    assert!(!sockets[2].receives(SNIFF, |frame| has_marker(frame, 0x5700f)));
    assert_eq!(drops(&switch, &lab.ports[0], "static_move"), 1);
    assert_eq!(
        Lab::fdb_port_of(&switch, &colons(&owner)).as_deref(),
        Some(lab.ports[1].as_str())
    );
    // Frames for the station still reach it, and only it.
    sockets[2].send(&ethernet(owner, station(8), 0x0c0));
    assert!(sockets[1].receives(SNIFF, |frame| has_marker(frame, 0x0c0)));
    assert!(!sockets[0].receives(SNIFF, |frame| has_marker(frame, 0x0c0)));

    // Without the static entry, the same spoof moves a learned station to the attacker.
    let learned = station(7);
    sockets[1].send(&ethernet(station(9), learned, 1));
    assert!(sockets[2].receives(SNIFF, |frame| has_marker(frame, 1)));
    sockets[0].send(&ethernet(station(9), learned, 2));
    assert!(sockets[2].receives(SNIFF, |frame| has_marker(frame, 2)));
    assert_eq!(
        Lab::fdb_port_of(&switch, &colons(&learned)).as_deref(),
        Some(lab.ports[0].as_str())
    );
}

/// What a victim saw during a broadcast storm from another host.
#[derive(Debug)]
struct Storm {
    /// Broadcasts the attacker sent.
    sent: usize,
    /// Frames the switch sent to the victim's port meanwhile.
    to_victim: u64,
    /// The attacker's frames dropped by the limit.
    limited: u64,
    /// The victim's pings to the third host.
    ping: PingSummary,
}

/// Host 0 broadcasts for two seconds while host 1 pings host 2 every 10 ms; host 0's port has
/// `flood_pps` if given.
fn storm(flood_pps: Option<u32>) -> Storm {
    let lab = Lab::tagged(3, "gd");
    let limit = flood_pps.map(|pps| format!("flood_pps = {pps}"));
    let extras: Vec<(usize, &str)> = limit.iter().map(|limit| (0, limit.as_str())).collect();
    let switch = Switch::start(&lab.switch_ns, &config_with(&lab, &extras));
    assert!(pings(lab.hosts[1].name(), &Lab::address(2)));
    let (attacker, victim) = (&lab.ports[0], &lab.ports[1]);
    let before = counter(&switch, victim, "tx_packets");
    let socket = RawSocket::open(lab.hosts[0].name(), "eth0");
    let ping = PingStream::start(
        lab.hosts[1].name(),
        &Lab::address(2),
        Duration::from_millis(10),
        200,
    );
    let sent = flood::broadcast_for(&socket, station(66), STORM);
    let ping = ping.finish();
    settled_rx(&switch, attacker);
    let run = Storm {
        sent,
        to_victim: counter(&switch, victim, "tx_packets") - before,
        limited: drops(&switch, attacker, "flood_limit"),
        ping,
    };
    eprintln!("flood_pps {flood_pps:?}: {run:?}");
    run
}

/// How long the storm lasts.
const STORM: Duration = Duration::from_secs(2);

#[test]
fn flood_pps_keeps_a_broadcast_storm_off_the_other_hosts() {
    const PPS: u32 = 1000;
    let open = storm(None);
    let limited = storm(Some(PPS));
    assert_eq!(open.limited, 0);
    assert!(limited.limited > 0, "{limited:?}");
    // The limit holds per CPU that the attacker's frames arrive on (two here), plus a burst of
    // a tenth of a second each; the victim's own pings and replies come on top.
    let ceiling = 2 * u64::from(PPS) * STORM.as_secs() + 2 * u64::from(PPS) / 10 + 500;
    assert!(limited.to_victim <= ceiling, "{limited:?}");
    assert!(
        open.to_victim > 10 * ceiling && open.to_victim >= open.sent as u64 / 2,
        "the storm without a limit is no storm: {open:?}"
    );
    assert!(limited.limited <= limited.sent as u64, "{limited:?}");
    assert!(
        limited.ping.lost() <= open.ping.lost(),
        "with the limit {limited:?}, without {open:?}"
    );
}

/// Host 0 on a port of its own, and two existing ports (`links`) whose veth peers lead into one
/// outside segment: a Linux bridge in namespace `outside`, with host `far` on it. Only the
/// first link is in the bridge until [`Loop::close`].
struct Loop {
    lab: Lab,
    outside: Netns,
    far: Netns,
    links: [String; 2],
    peers: [String; 2],
}

/// `far`'s address.
const FAR: &str = "10.77.0.9";

impl Loop {
    fn new() -> Self {
        let lab = Lab::tagged(1, "gd");
        let outside = Netns::new(&names::unique("gdo"));
        let far = Netns::new(&names::unique("gdf"));
        let links = [names::unique("gdl"), names::unique("gdl")];
        let peers = [names::unique("gdq"), names::unique("gdq")];
        let bridge = ["ip", "link", "add", "br0", "type", "bridge"];
        run_in(outside.name(), &bridge);
        run_in(outside.name(), &["ip", "link", "set", "br0", "up"]);
        let far_port = names::unique("gdq");
        far.veth_to("eth0", &outside, &far_port);
        far.address("eth0", &format!("{FAR}/24"));
        let topology = Self {
            lab,
            outside,
            far,
            links,
            peers,
        };
        topology.enslave(&far_port, true);
        for (link, peer) in topology.links.iter().zip(&topology.peers) {
            topology
                .lab
                .switch_ns
                .veth_to(link, &topology.outside, peer);
        }
        topology.enslave(&topology.peers[0], true);
        topology
    }

    /// Puts `peer` into the outside bridge, or takes it out.
    fn enslave(&self, peer: &str, into: bool) {
        let master: &[&str] = if into {
            &["master", "br0"]
        } else {
            &["nomaster"]
        };
        let mut command = vec!["ip", "link", "set", peer];
        command.extend_from_slice(master);
        run_in(self.outside.name(), &command);
    }

    /// Wires the second link into the segment too: a loop.
    fn close(&self) {
        self.enslave(&self.peers[1], true);
    }

    /// A switch with host 0's port and the two links, with `switch_extra` in `[switch]`.
    fn start(&self, switch_extra: &str) -> Switch {
        let mut config = format!("{SWITCH_TABLE}{switch_extra}");
        config.push_str(&self.lab.port_table(0, 1));
        for link in &self.links {
            config.push_str(&format!(
                "\n[[port]]\nname = \"{link}\"\nexisting = true\nhook = \"tc\"\n"
            ));
        }
        Switch::start(&self.lab.switch_ns, &config)
    }

    /// Sends one broadcast from host 0: with the loop closed, it goes round for ever.
    fn kick(&self) {
        RawSocket::open(self.lab.hosts[0].name(), "eth0").send(&ethernet(
            [0xff; 6],
            station(1),
            0x100b,
        ));
    }
}

#[test]
fn a_loop_without_the_guard_circulates_for_ever() {
    let topology = Loop::new();
    let switch = topology.start("");
    assert!(pings(topology.lab.hosts[0].name(), FAR));
    topology.close();
    topology.kick();
    std::thread::sleep(Duration::from_millis(500));
    let link = &topology.links[0];
    let before = counter(&switch, link, "rx_packets");
    std::thread::sleep(Duration::from_secs(1));
    let rate = counter(&switch, link, "rx_packets") - before;
    let moves = counter(&switch, link, "moved_in");
    // Break the loop before anything can fail, so that the frames stop.
    topology.enslave(&topology.peers[1], false);
    eprintln!("no loop guard: {rate} frames a second on one link, {moves} moves into it");
    assert!(rate > 1000, "the loop carries {rate} frames a second");
    assert!(moves > 1000, "{moves} moves");
}

#[test]
fn the_loop_guard_blocks_one_link_and_unblocks_it_after_the_hold_down() {
    const HOLD: u64 = 3;
    let topology = Loop::new();
    let switch = topology.start(&format!(
        "loop_guard_moves = 100\nloop_guard_hold_secs = {HOLD}\n"
    ));
    let host = topology.lab.hosts[0].name();
    assert!(pings(host, FAR));
    topology.close();
    let closed = Instant::now();
    topology.kick();
    let blocked = loop {
        let blocked = topology
            .links
            .iter()
            .position(|link| drops(&switch, link, "loop_blocked") > 0);
        if let Some(blocked) = blocked {
            break blocked;
        }
        assert!(
            closed.elapsed() < Duration::from_secs(5),
            "no link blocked 5 s after the loop closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let detected = closed.elapsed();
    eprintln!("loop guard: link {blocked} blocked {detected:?} after the loop closed");
    assert!(detected < Duration::from_secs(2), "{detected:?}");
    // The loop is broken: the other link still carries host 0's traffic, and stays open. (From
    // the far side first: the outside bridge learned addresses that went round the loop behind
    // the link now blocked, and relearns a station only when it speaks.)
    // Frames the storm left queued drain first on a busy machine: within the hold-down.
    let settle = Duration::from_secs(2);
    assert!(pings_within(topology.far.name(), &Lab::address(0), settle));
    assert!(pings_within(host, FAR, settle));
    let other = 1 - blocked;
    assert_eq!(drops(&switch, &topology.links[other], "loop_blocked"), 0);
    // Remove the loop, leaving only the blocked link: after the hold-down it carries the
    // traffic again.
    topology.enslave(&topology.peers[other], false);
    assert!(!pings(topology.far.name(), &Lab::address(0)));
    let deadline = closed + Duration::from_secs(HOLD + 6);
    while !pings(topology.far.name(), &Lab::address(0)) {
        assert!(
            Instant::now() < deadline,
            "the blocked link never came back"
        );
    }
    let recovered = closed.elapsed();
    eprintln!(
        "loop guard: traffic through link {blocked} again {recovered:?} after the loop closed"
    );
    assert!(recovered >= Duration::from_secs(HOLD), "{recovered:?}");
}

/// Sends 100 frames from new sources out of `socket` into port `port` of `switch`, whose
/// `max_macs` is `limit`; returns how many entries the port holds then, checked to be the
/// limit (or one over, see `budget::may_learn`).
fn fill(
    switch: &Switch,
    port: &str,
    socket: &RawSocket,
    sources: &mut RandomMacs,
    limit: u64,
) -> usize {
    flood::from_new_sources(socket, station(200), sources, 100);
    settled_rx(switch, port);
    let held = entries_on(switch, port);
    assert!(
        (limit..=limit + 1).contains(&(held as u64)),
        "{held} entries behind {port}, limit {limit}"
    );
    held
}

#[test]
fn the_max_macs_count_survives_a_restart_and_starts_afresh_for_a_re_added_port() {
    const SMALL: u64 = 8;
    let lab = Lab::tagged(2, "gd");
    let limit = format!("max_macs = {SMALL}");
    let mut switch = Switch::start_pinned(&lab.switch_ns, &config_with(&lab, &[(0, &limit)]), &[]);
    let attacker = &lab.ports[0];
    let netns = lab.hosts[0].name();
    let mut sources = RandomMacs::new(7);
    let held = fill(
        &switch,
        attacker,
        &RawSocket::open(netns, "eth0"),
        &mut sources,
        SMALL,
    );
    // A killed agent leaves the datapath and its counts; the next one adopts them: the port
    // is still full.
    switch.kill();
    switch.restart(&[]);
    let refused = counter(&switch, attacker, "learn_refused");
    let socket = RawSocket::open(netns, "eth0");
    assert_eq!(fill(&switch, attacker, &socket, &mut sources, SMALL), held);
    assert!(counter(&switch, attacker, "learn_refused") >= refused + 90);
    // Removed and added again (live), the port starts from an empty count (its entries went
    // with it): it fills again.
    assert!(switch.vswitch(&["port", "del", attacker]).status.success());
    let limit = SMALL.to_string();
    let added = switch.vswitch(&[
        "port",
        "add",
        attacker,
        "--netns",
        netns,
        "--vlan",
        "1",
        "--max-macs",
        &limit,
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    fill(
        &switch,
        attacker,
        &RawSocket::open(netns, "eth0"),
        &mut sources,
        SMALL,
    );
    assert!(switch.stop().success());
}

#[test]
fn the_switch_wide_max_macs_holds_two_flooding_hosts_together() {
    const TOTAL: u64 = 100;
    let lab = Lab::tagged(3, "gd");
    let config = config_with(&lab, &[]).replacen(
        SWITCH_TABLE,
        &format!("{SWITCH_TABLE}max_macs = {TOTAL}\n"),
        1,
    );
    let switch = Switch::start(&lab.switch_ns, &config);
    // The third host talks first: its entry is in before the flood.
    let legitimate = parse(&lab.hosts[2].mac("eth0"));
    assert!(pings(lab.hosts[2].name(), &Lab::address(0)));
    let mut sources = RandomMacs::new(99);
    for host in 0..2 {
        let socket = RawSocket::open(lab.hosts[host].name(), "eth0");
        flood::from_new_sources(&socket, station(200), &mut sources, 1000);
        settled_rx(&switch, &lab.ports[host]);
    }
    let entries = switch.rows(&["fdb", "show"]).len() as u64;
    let refused: u64 = lab.ports[..2]
        .iter()
        .map(|port| counter(&switch, port, "learn_refused"))
        .sum();
    eprintln!(
        "switch max_macs {TOTAL}: 2000 new sources from two hosts, {entries} entries, {refused} refused"
    );
    assert!(entries <= TOTAL + 1, "{entries} entries");
    assert!(refused >= 1800, "{refused} refused");
    assert_eq!(
        Lab::fdb_port_of(&switch, &colons(&legitimate)).as_deref(),
        Some(lab.ports[2].as_str())
    );
    // Static entries do not count: the operator can still add them.
    let added = switch.vswitch(&["fdb", "add", &colons(&station(50)), "--port", &lab.ports[2]]);
    assert!(added.status.success());
}
