//! The VM test group of `cargo xtask test --vm`: integration tests of the
//! `tests` package that cargo runs in the guest, with this xtask binary's
//! `vm run` as its runner (one boot per test binary).

use std::process::Command;

use anyhow::{Context as _, bail};

use super::setup;

/// The integration tests of the `tests` package that run in the guest.
const GUEST_TESTS: &[&str] = &["vm_devices"];

/// Sets the VM up if needed, then runs [`GUEST_TESTS`] in the guest.
pub fn test() -> anyhow::Result<()> {
    setup(false)?;
    let xtask = std::env::current_exe().context("finding the xtask binary")?;
    let xtask = xtask
        .to_str()
        .filter(|path| !path.contains(char::is_whitespace))
        .with_context(|| {
            format!(
                "cargo cannot take {} as its runner (spaces or non-UTF-8)",
                xtask.display()
            )
        })?;
    let mut cargo = Command::new("cargo");
    cargo.args(["test", "--package", "tests"]).env(
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
        format!("{xtask} vm run --"),
    );
    for test in GUEST_TESTS {
        cargo.args(["--test", test]);
    }
    let status = cargo.status().context("running cargo test")?;
    if !status.success() {
        bail!("the VM test group failed: {status}");
    }
    Ok(())
}
