//! The VM test group of `cargo xtask test --vm`: integration tests of the `tests` package,
//! built on the host and run one after another in a single boot of the guest.

use std::{ffi::OsString, process::Command, time::Duration};

use anyhow::{Context as _, bail};

use super::{VmCommand, run_in_guest, setup};

/// The integration tests of the `tests` package that run in the guest, in this order.
const GUEST_TESTS: &[&str] = &["vm_devices", "vm_offload", "switching"];

/// How long the whole group may run in the guest (the switching suite takes about 90 s).
const GROUP_TIMEOUT: Duration = Duration::from_secs(900);

/// Sets the VM up if needed, builds [`GUEST_TESTS`] and runs them in one boot.
pub fn test() -> anyhow::Result<()> {
    setup(false)?;
    let mut binaries = Vec::new();
    for test in GUEST_TESTS {
        binaries.push(test_binary(test)?);
    }
    let mut commands = binaries
        .into_iter()
        .map(|binary| vec![binary, OsString::from("--test-threads=1")]);
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
