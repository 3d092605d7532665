//! ipvlan L2 and L3 through vswitch's dispatch. This kernel has no ipvlan driver, so the
//! matrix is checked against what the driver does (children share the parent's MAC, reach each
//! other and the outside; in L2 they get every broadcast but their own, in L3 none, and the
//! switch answers address resolution for them); `vm_ipvlan` compares L2 with the driver itself
//! in the VM.

use std::time::{Duration, Instant};

use tests::{
    command::{pings, run_in, succeeds_in},
    dispatch::{Implementation, Lab, Matrix, PARENT_MAC, Scenario},
    names,
    netns::Netns,
    switch::Switch,
};

const L2: Scenario = Scenario {
    driver: "ipvlan",
    mode: "l2",
    hairpin: false,
};

const L3: Scenario = Scenario {
    driver: "ipvlan",
    mode: "l3",
    hairpin: false,
};

/// The matrix a lab's paths should show: every station reaches every other one, except that
/// a broadcast reaches a child only if `children_get_broadcasts`.
fn expected(matrix: &Matrix, children_get_broadcasts: bool) -> Matrix {
    Matrix(
        matrix
            .0
            .keys()
            .map(|path| {
                let (what, ends) = path.split_once(' ').expect("paths read `what from → to`");
                let (from, to) = ends.split_once(" → ").expect("paths read `what from → to`");
                let child = to.starts_with('c');
                let reached = from != to && (what == "ping" || children_get_broadcasts || !child);
                (path.clone(), reached)
            })
            .collect(),
    )
}

/// Whether `netns` pings IPv6 `address` within a few seconds (the children's addresses become
/// usable once duplicate address detection is done).
fn pings6(netns: &str, address: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        if succeeds_in(netns, &["ping", "-6", "-c", "1", "-W", "1", address]) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
    }
}

#[test]
fn l2_children_reach_each_other_and_the_outside_by_ip_address() {
    let lab = Lab::build(L2, Implementation::Vswitch);
    let matrix = lab.matrix();
    println!("vswitch ipvlan l2:\n{matrix}");
    assert!(matrix.0.len() >= 12, "the matrix is incomplete:\n{matrix}");
    assert_eq!(matrix, expected(&matrix, true));
    for child in ["c1", "c2"] {
        assert_eq!(lab.mac(child), PARENT_MAC, "{child} has the parent's MAC");
    }
}

#[test]
fn l2_dispatches_ipv6_by_destination_address() {
    let lab = Lab::build(L2, Implementation::Vswitch);
    for (from, to) in [
        ("c1", "fd77::2"),
        ("c2", "fd77::1"),
        ("c1", "fd77::64"),
        ("out", "fd77::2"),
    ] {
        assert!(pings6(lab.netns(from), to), "{from} cannot ping {to}");
    }
}

#[test]
fn l3_children_are_reached_by_address_answered_for_and_get_no_broadcasts() {
    let lab = Lab::build(L3, Implementation::Vswitch);
    let matrix = lab.matrix();
    println!("vswitch ipvlan l3:\n{matrix}");
    assert!(matrix.0.len() >= 12, "the matrix is incomplete:\n{matrix}");
    assert_eq!(matrix, expected(&matrix, false));
    // The outside forgets what it learned from the children's own requests, so that it has to
    // ask for both addresses of c1 again.
    let switch = lab.switch();
    let answered = |row: &str| switch.stats_of(row)["answered"].as_u64().unwrap_or(0);
    run_in(lab.netns("out"), &["ip", "neigh", "flush", "dev", "br0"]);
    let before = answered("parent:par");
    assert!(pings(lab.netns("out"), "10.77.0.1"), "out cannot ping c1");
    for (from, to) in [("c1", "fd77::2"), ("out", "fd77::1"), ("c2", "fd77::64")] {
        assert!(pings6(lab.netns(from), to), "{from} cannot ping {to}");
    }
    // No child saw a request for its address: the switch answered, for the outside on the
    // parent and for each sibling on its child (children get no broadcasts, so each learns
    // its sibling's IPv4 and IPv6 addresses only from the switch).
    assert!(
        answered("parent:par") >= before + 2,
        "ARP and ND from the outside"
    );
    for child in ["child:mv1", "child:mv2"] {
        assert!(answered(child) >= 2, "{child}: ARP and ND for its sibling");
    }
    let neighbours = run_in(lab.netns("out"), &["ip", "neigh", "show", "dev", "br0"]);
    let parent = vswitch_common::mac::Colons(&PARENT_MAC).to_string();
    for child in ["10.77.0.1 ", "fd77::1 "] {
        let entry = neighbours
            .lines()
            .find(|line| line.starts_with(child))
            .unwrap_or_else(|| panic!("the outside has no entry for {child}:\n{neighbours}"));
        assert!(entry.contains(&parent), "{entry}: the parent's MAC");
    }
}

#[test]
fn l3_routes_between_children_in_different_subnets_without_their_gateways() {
    let host = Netns::new(&names::unique("h"));
    let outside = Netns::new(&names::unique("o"));
    host.veth_to("par", &outside, "ext");
    // The gateways of both subnets are on the outside, which does not forward: a packet that
    // went through them would be lost.
    outside.address("ext", "10.79.1.100/24");
    outside.address("ext", "10.79.2.100/24");
    run_in(outside.name(), &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    let netns = [names::unique("c"), names::unique("c")];
    let _children = netns.each_ref().map(|name| Netns::owning(name));
    let config = format!(
        "[[ipvlan]]\nparent = \"par\"\nmode = \"l3\"\nchildren = [\n\
         {{ name = \"iv1\", netns = \"{}\", address = [\"10.79.1.1/24\"] }},\n\
         {{ name = \"iv2\", netns = \"{}\", address = [\"10.79.2.2/24\"] }} ]\n",
        netns[0], netns[1]
    );
    let switch = Switch::start(&host, &config);
    run_in(
        &netns[0],
        &["ip", "route", "add", "default", "via", "10.79.1.100"],
    );
    run_in(
        &netns[1],
        &["ip", "route", "add", "default", "via", "10.79.2.100"],
    );
    assert!(pings(&netns[0], "10.79.2.2"), "iv1 cannot reach iv2");
    assert!(pings(&netns[1], "10.79.1.1"), "iv2 cannot reach iv1");
    assert!(
        pings(&netns[0], "10.79.1.100"),
        "iv1 cannot reach its gateway"
    );
    let routed = switch.stats_of("child:iv1")["forwarded"]
        .as_u64()
        .unwrap_or(0);
    assert!(routed >= 2, "iv1's pings went to iv2 through the switch");
}
