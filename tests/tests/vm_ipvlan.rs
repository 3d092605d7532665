//! Parity with the kernel's ipvlan driver, which only the VM's kernel has (`cargo xtask test
//! --vm`): the L2 scenario is built once with the driver and once with vswitch's dispatch, and
//! the two matrices must be identical.

use tests::dispatch::{Scenario, assert_parity};

#[test]
fn ipvlan_l2_matches_the_driver() {
    assert_parity(Scenario {
        driver: "ipvlan",
        mode: "l2",
        hairpin: false,
    });
}
