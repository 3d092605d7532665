//! `cargo xtask test`: the one test command of the README and CI.

use anyhow::Context as _;

use crate::{prerequisites, vm};

/// Options of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Also run the VM group: the suites that need Debian's kernel under QEMU.
    #[arg(long)]
    pub vm: bool,
    /// Skip `cargo fmt --check` and clippy.
    #[arg(long)]
    pub no_lint: bool,
    /// Full reliability counts: a million fuzz cases per datapath program, 10 000 cases per
    /// property, 50 agent kills per fault scenario (the fast run does a few thousand, 256
    /// and 5).
    #[arg(long)]
    pub long: bool,
}

/// The environment `--long` gives the test processes (read by `tests::fuzz`,
/// `tests::faults`, the `attacks` suite and proptest).
const LONG_COUNTS: [(&str, &str); 4] = [
    ("VSWITCH_FUZZ_CASES", "1000000"),
    ("VSWITCH_ATTACK_MACS", "1000000"),
    ("VSWITCH_FAULT_ROUNDS", "50"),
    ("PROPTEST_CASES", "10000"),
];

/// The suites of `tests/tests/` that run on this machine, in order: the fast
/// BPF_PROG_TEST_RUN suites first, then the namespace suites. The others run in the VM group
/// (`vm::group`).
pub const HOST_SUITES: [&str; 17] = [
    "datapath",
    "vxlan_datapath",
    "dispatch_datapath",
    "fuzz_datapath",
    "defences_datapath",
    "vxlan",
    "switching",
    "live",
    "hosts",
    "devices",
    "operator",
    "macvlan",
    "ipvlan",
    "cni",
    "faults",
    "attacks",
    "cluster",
];

/// Installs what is missing, lints, then runs unit, BPF_PROG_TEST_RUN and namespace tests.
pub fn run(options: &Options) -> anyhow::Result<()> {
    prerequisites::require_root()?;
    prerequisites::build_chain()?;
    prerequisites::test_tools()?;
    if !options.no_lint {
        prerequisites::run("cargo", &["fmt", "--all", "--", "--check"])
            .context("formatting differs: run `cargo fmt --all`")?;
        prerequisites::run(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }
    prerequisites::run(
        "cargo",
        &["build", "--package", "vswitch", "--package", "vswitch-cni"],
    )?;
    let binary = crate::workspace_root().join("target/debug/vswitch");
    // SAFETY: single-threaded here; the tests find the binary through this variable.
    unsafe { std::env::set_var("VSWITCH_BIN", &binary) };
    let plugin = crate::workspace_root().join("target/debug/vswitch-cni");
    // SAFETY: as above.
    unsafe { std::env::set_var("VSWITCH_CNI_BIN", &plugin) };
    if options.long {
        for (variable, value) in LONG_COUNTS {
            // SAFETY: as above.
            unsafe { std::env::set_var(variable, value) };
        }
    }
    // The eBPF crate's logic is tested through vswitch-common and the datapath suite.
    prerequisites::run(
        "cargo",
        &[
            "test",
            "--workspace",
            "--exclude",
            "tests",
            "--exclude",
            "vswitch-ebpf",
            "--",
            "--test-threads=2",
        ],
    )?;
    // The namespace suites share the machine's two cores and measure nothing: run them in turn.
    let mut arguments = vec!["test", "--package", "tests", "--lib"];
    for suite in HOST_SUITES {
        arguments.extend(["--test", suite]);
    }
    arguments.extend(["--", "--test-threads=1"]);
    prerequisites::run("cargo", &arguments)?;
    // Completions and man pages generate, and the bash completion parses.
    crate::dist::run()?;
    // Benchmark smoke (issue 3): every benchmarked path forwards traffic; no speed threshold.
    crate::bench::run(&crate::bench::Options {
        quick: true,
        dev_profile: true,
        ..crate::bench::Options::default()
    })?;
    if options.vm {
        vm::test()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::HOST_SUITES;
    use crate::vm::group::GUEST_SUITES;

    #[test]
    fn every_suite_runs_somewhere() {
        let dir = crate::workspace_root().join("tests/tests");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("reading tests/tests") {
            let path = entry.expect("a directory entry").path();
            let Some(suite) = path.file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            if !HOST_SUITES.contains(&suite) && !GUEST_SUITES.contains(&suite) {
                missing.push(suite.to_string());
            }
        }
        assert!(
            missing.is_empty(),
            "suites that neither `cargo xtask test` nor its VM group runs: {missing:?}"
        );
    }
}
