//! ipvlan L2 through vswitch's dispatch. This kernel has no ipvlan driver, so the matrix is
//! checked against what the driver does (children share the parent's MAC, reach each other
//! and the outside, and get every broadcast but their own); `vm_ipvlan` compares it with the
//! driver itself in the VM.

use std::time::{Duration, Instant};

use tests::{
    command::succeeds_in,
    dispatch::{Implementation, Lab, Matrix, PARENT_MAC, Scenario},
};

const L2: Scenario = Scenario {
    driver: "ipvlan",
    mode: "l2",
    hairpin: false,
};

#[test]
fn l2_children_reach_each_other_and_the_outside_by_ip_address() {
    let lab = Lab::build(L2, Implementation::Vswitch);
    let matrix = lab.matrix();
    println!("vswitch ipvlan l2:\n{matrix}");
    let expected = Matrix(
        matrix
            .0
            .keys()
            .map(|path| {
                let (from, to) = path
                    .split_once(' ')
                    .and_then(|(_, ends)| ends.split_once(" → "))
                    .expect("paths read `what from → to`");
                (path.clone(), from != to)
            })
            .collect(),
    );
    assert!(matrix.0.len() >= 12, "the matrix is incomplete:\n{matrix}");
    assert_eq!(matrix, expected);
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
        let netns = lab.netns(from);
        // The children's addresses become usable once duplicate address detection is done.
        let deadline = Instant::now() + Duration::from_secs(6);
        let reached = loop {
            if succeeds_in(netns, &["ping", "-6", "-c", "1", "-W", "1", to]) {
                break true;
            }
            if Instant::now() > deadline {
                break false;
            }
        };
        assert!(reached, "{from} cannot ping {to}");
    }
}
