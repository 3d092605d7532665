//! Parity with the kernel's macvlan driver: each scenario is built once with the driver and
//! once with vswitch's dispatch, the same reachability matrix is measured on both, printed,
//! and must be identical.

use tests::macvlan::{Implementation, Lab, Matrix, Scenario};

/// Builds `scenario` with both implementations and asserts their matrices are identical.
fn parity(scenario: Scenario) {
    let kernel = Lab::build(scenario, Implementation::Kernel).matrix();
    let vswitch = Lab::build(scenario, Implementation::Vswitch).matrix();
    println!("{scenario:?}\nkernel macvlan driver:\n{kernel}vswitch dispatch:\n{vswitch}");
    assert!(
        kernel.0.values().any(|reached| *reached),
        "the kernel reference reached nothing: the lab is broken"
    );
    let differences: Matrix = Matrix(
        kernel
            .0
            .iter()
            .filter(|(path, reached)| vswitch.0.get(*path) != Some(reached))
            .map(|(path, reached)| (path.clone(), *reached))
            .collect(),
    );
    assert_eq!(
        kernel, vswitch,
        "vswitch differs from the kernel (kernel's value shown):\n{differences}"
    );
}

#[test]
fn bridge_mode_matches_the_driver() {
    parity(Scenario {
        mode: "bridge",
        hairpin: false,
    });
}

#[test]
fn vepa_mode_matches_the_driver_with_and_without_a_hairpinning_outside() {
    for hairpin in [false, true] {
        parity(Scenario {
            mode: "vepa",
            hairpin,
        });
    }
}

#[test]
fn private_mode_matches_the_driver_with_and_without_a_hairpinning_outside() {
    for hairpin in [false, true] {
        parity(Scenario {
            mode: "private",
            hairpin,
        });
    }
}

#[test]
fn passthru_mode_matches_the_driver() {
    parity(Scenario {
        mode: "passthru",
        hairpin: false,
    });
}

#[test]
fn source_mode_matches_the_driver() {
    parity(Scenario {
        mode: "source",
        hairpin: false,
    });
}
