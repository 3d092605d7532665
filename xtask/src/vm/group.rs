//! The VM test group of `cargo xtask test --vm`: integration tests of the `tests` package,
//! built on the host and run one after another in a single boot of the guest.
//!
//! The group ends with the canary: the switching suite again, against a `vswitch` whose eBPF
//! programs were built with the machine's floating `nightly` (or `$VSWITCH_CANARY_TOOLCHAIN`)
//! instead of the pinned toolchain. The 6.1 verifier then judges what a newer compiler emits,
//! so a bounds check that a new LLVM optimises away fails here before anyone moves the pin.

use std::{ffi::OsString, process::Command, time::Duration};

use anyhow::{Context as _, bail};

use super::{VmCommand, run_in_guest, setup};
use crate::prerequisites;

/// The integration tests of the `tests` package that run in the guest, in this order.
pub const GUEST_SUITES: &[&str] = &["vm_devices", "vm_offload", "vm_ipvlan", "switching"];

/// The suite that runs again against the canary build.
const CANARY_TEST: &str = "switching";

/// How long the whole group may run in the guest (the switching suite takes about 90 s, and
/// runs twice).
const GROUP_TIMEOUT: Duration = Duration::from_secs(1200);

/// Sets the VM up if needed, builds [`GUEST_SUITES`] and runs them in one boot.
pub fn test() -> anyhow::Result<()> {
    setup(false)?;
    let mut commands = Vec::new();
    for test in GUEST_SUITES {
        commands.push(vec![test_binary(test)?, OsString::from("--test-threads=1")]);
    }
    let canary = canary_binary()?;
    commands.push(vec![
        OsString::from("env"),
        OsString::from(format!("VSWITCH_BIN={}", canary.display())),
        test_binary(CANARY_TEST)?,
        OsString::from("--test-threads=1"),
    ]);
    let mut commands = commands.into_iter();
    let first = commands.next().context("no guest tests")?;
    let (program, args) = first.split_first().context("a test binary")?;
    let status = run_in_guest(&VmCommand {
        program: program.clone(),
        args: args.to_vec(),
        then: commands.collect(),
        timeout: GROUP_TIMEOUT,
    })?;
    if !status.success() {
        bail!("the VM test group failed: {status}");
    }
    Ok(())
}

/// Builds `vswitch` with its eBPF programs compiled by the canary toolchain, in a target
/// directory of its own, and returns the binary.
fn canary_binary() -> anyhow::Result<std::path::PathBuf> {
    let toolchain = prerequisites::canary_toolchain();
    prerequisites::toolchain_with_rust_src(&toolchain)?;
    println!(
        "xtask: canary build of the eBPF programs with {toolchain} ({}); pinned: {}",
        prerequisites::rustc_version(&toolchain),
        prerequisites::rustc_version(&prerequisites::pinned_toolchain()?),
    );
    let target_dir = crate::workspace_root().join("target/canary");
    let status = Command::new("cargo")
        .args([
            "build",
            "--quiet",
            "--package",
            "vswitch",
            "--bin",
            "vswitch",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("VSWITCH_EBPF_TOOLCHAIN", &toolchain)
        .status()
        .context("running cargo build for the canary")?;
    if !status.success() {
        bail!("the canary build with {toolchain} failed: {status}");
    }
    Ok(target_dir.join("debug/vswitch"))
}

/// Builds integration test `test` of the `tests` package and returns its executable, from
/// the last line `cargo test --no-run` prints about it on stderr.
fn test_binary(test: &str) -> anyhow::Result<OsString> {
    let output = Command::new("cargo")
        .args(["test", "--package", "tests", "--no-run", "--test", test])
        .output()
        .context("running cargo test --no-run")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("building test {test} failed:\n{stderr}");
    }
    // "  Executable tests/NAME.rs (target/debug/deps/NAME-HASH)"
    let path = stderr
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Executable "))
        .filter_map(|rest| rest.rsplit_once(" (")?.1.strip_suffix(')'))
        .next_back()
        .with_context(|| format!("cargo did not name the executable of test {test}:\n{stderr}"))?;
    let path =
        std::path::absolute(crate::workspace_root().join(path)).context("an absolute path")?;
    Ok(path.into_os_string())
}
