//! Parity with the kernel's macvlan driver: each scenario is built once with the driver and
//! once with vswitch's dispatch, the same reachability matrix is measured on both, printed,
//! and must be identical.

use std::time::Duration;

use tests::{
    command::pings,
    dispatch::{Scenario, assert_parity as parity, child_mac},
    frames::{ethernet, has_marker},
    names,
    netns::Netns,
    raw::RawSocket,
    switch::Switch,
    tap::TapEnd,
};
use vswitch_common::mac::Colons;

#[test]
fn bridge_mode_matches_the_driver() {
    parity(Scenario::macvlan("bridge", false));
}

#[test]
fn vepa_mode_matches_the_driver_with_and_without_a_hairpinning_outside() {
    for hairpin in [false, true] {
        parity(Scenario::macvlan("vepa", hairpin));
    }
}

#[test]
fn private_mode_matches_the_driver_with_and_without_a_hairpinning_outside() {
    for hairpin in [false, true] {
        parity(Scenario::macvlan("private", hairpin));
    }
}

#[test]
fn passthru_mode_matches_the_driver() {
    parity(Scenario::macvlan("passthru", false));
}

#[test]
fn source_mode_matches_the_driver() {
    parity(Scenario::macvlan("source", false));
}

/// A tap child (the macvtap case) carries frames both ways: to and from the outside, and to and
/// from a veth sibling in bridge mode.
#[test]
fn tap_children_carry_frames_both_ways() {
    let tap_mac = [0x02, 0x77, 0, 0, 0, 0x11];
    let outside_mac = [0x02, 0x77, 0, 0, 0, 0x64];
    let host = Netns::new(&names::unique("h"));
    let outside = Netns::new(&names::unique("o"));
    host.veth_to("par", &outside, "eth0");
    let c1 = names::unique("c");
    let _c1 = Netns::owning(&c1);
    let config = format!(
        "[[macvlan]]\nparent = \"par\"\nmode = \"bridge\"\nchildren = [\n\
         {{ name = \"mv1\", netns = \"{c1}\", mac = \"{}\" }},\n\
         {{ name = \"tap1\", kind = \"tap\", mac = \"{}\" }} ]\n",
        Colons(&child_mac(1)),
        Colons(&tap_mac),
    );
    let switch = Switch::start(&host, &config);
    let vm = TapEnd::open(host.name(), "tap1");
    let wire = RawSocket::open(outside.name(), "eth0");
    let sibling = RawSocket::open(&c1, "eth0");
    let within = Duration::from_secs(1);

    vm.send(&ethernet(outside_mac, tap_mac, 1));
    assert!(wire.receives(within, |f| has_marker(f, 1)), "tap → outside");
    wire.send(&ethernet(tap_mac, outside_mac, 2));
    assert!(vm.receives(within, |f| has_marker(f, 2)), "outside → tap");
    wire.send(&ethernet([0xff; 6], outside_mac, 3));
    assert!(
        vm.receives(within, |f| has_marker(f, 3)),
        "outside broadcast → tap"
    );
    vm.send(&ethernet(child_mac(1), tap_mac, 4));
    assert!(
        sibling.receives(within, |f| has_marker(f, 4)),
        "tap → sibling"
    );
    sibling.send(&ethernet(tap_mac, child_mac(1), 5));
    assert!(vm.receives(within, |f| has_marker(f, 5)), "sibling → tap");
    wire.send(&ethernet([2, 0x77, 0, 0, 0, 0x42], outside_mac, 6));
    assert!(
        !vm.receives(Duration::from_millis(300), |f| has_marker(f, 6)),
        "unicast for another address must not reach the tap"
    );

    // `vswitch stats` shows the parent and each child: the tap sent two frames and got three.
    let output = switch.vswitch(&["stats", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stats JSON");
    let row = |name: &str| {
        rows.as_array()
            .and_then(|rows| rows.iter().find(|row| row["port"] == name))
            .unwrap_or_else(|| panic!("no stats row {name}: {rows}"))
            .clone()
    };
    let tap = row("child:tap1");
    assert!(tap["rx_packets"].as_u64() >= Some(2), "{tap}");
    assert!(tap["tx_packets"].as_u64() >= Some(3), "{tap}");
    assert!(row("parent:par")["forwarded"].as_u64() >= Some(1));
    row("child:mv1");
}

/// An agent killed with SIGKILL leaves its children forwarding; the next agent of the instance
/// makes them anew (in the namespace the first one created, which it then owns), and its normal
/// stop removes them and that namespace.
#[test]
fn a_restarted_agent_makes_the_children_anew_and_cleans_up_at_stop() {
    let host = Netns::new(&names::unique("h"));
    let outside = Netns::new(&names::unique("o"));
    host.veth_to("par", &outside, "eth0");
    outside.address("eth0", "10.77.0.100/24");
    let c1 = names::unique("c");
    let _c1 = Netns::owning(&c1);
    let config = format!(
        "[[macvlan]]\nparent = \"par\"\nmode = \"bridge\"\n\
         children = [ {{ name = \"mv1\", netns = \"{c1}\", address = [\"10.77.0.1/24\"] }} ]\n"
    );
    let mut switch = Switch::start_pinned(&host, &config, &[]);
    assert!(pings(&c1, "10.77.0.100"), "before the restart");
    switch.kill();
    assert!(
        pings(&c1, "10.77.0.100"),
        "a killed agent leaves forwarding on"
    );
    switch.restart(&[]);
    assert!(pings(&c1, "10.77.0.100"), "after the restart");
    assert!(switch.stop().success());
    assert!(
        !std::path::Path::new("/run/netns").join(&c1).exists(),
        "the child's namespace is removed at stop"
    );
    assert!(!host.links().contains(&"mv1".to_string()));
}

/// `vswitch reload` makes a parent whose section changed anew (here: a second child joins),
/// removes one that is gone, and leaves the switch usable.
#[test]
fn reload_applies_changed_and_removed_parents() {
    let host = Netns::new(&names::unique("h"));
    let outside = Netns::new(&names::unique("o"));
    host.veth_to("par", &outside, "eth0");
    outside.address("eth0", "10.77.0.100/24");
    let [c1, c2] = [names::unique("c"), names::unique("c")];
    let _guards = [Netns::owning(&c1), Netns::owning(&c2)];
    let child = |n: u8, netns: &str| {
        format!("{{ name = \"mv{n}\", netns = \"{netns}\", address = [\"10.77.0.{n}/24\"] }}")
    };
    let section = |children: &str| {
        format!("[[macvlan]]\nparent = \"par\"\nmode = \"bridge\"\nchildren = [ {children} ]\n")
    };
    let switch = Switch::start(&host, &section(&child(1, &c1)));
    assert!(pings(&c1, "10.77.0.100"));

    switch.rewrite_config(&section(&format!("{}, {}", child(1, &c1), child(2, &c2))));
    let output = switch.vswitch(&["reload"]);
    let message = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{message}");
    assert!(message.contains("parent par"), "{message}");
    assert!(pings(&c2, "10.77.0.1"), "the new child reaches its sibling");
    assert!(pings(&c2, "10.77.0.100"), "and the outside");

    switch.rewrite_config("");
    assert!(switch.vswitch(&["reload"]).status.success());
    assert!(
        !host.links().contains(&"mv1".to_string()),
        "the children are gone"
    );
    assert!(!std::path::Path::new("/run/netns").join(&c2).exists());
}
