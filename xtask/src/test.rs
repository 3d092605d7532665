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
    prerequisites::run(
        "cargo",
        &[
            "test",
            "--package",
            "tests",
            "--lib",
            "--test",
            "datapath",
            "--test",
            "vxlan_datapath",
            "--test",
            "dispatch_datapath",
            "--test",
            "fuzz_datapath",
            "--test",
            "defences_datapath",
            "--test",
            "vxlan",
            "--test",
            "switching",
            "--test",
            "live",
            "--test",
            "hosts",
            "--test",
            "devices",
            "--test",
            "operator",
            "--test",
            "macvlan",
            "--test",
            "ipvlan",
            "--test",
            "cni",
            "--test",
            "faults",
            "--test",
            "attacks",
            "--test",
            "cluster",
            "--",
            "--test-threads=1",
        ],
    )?;
    // Completions and man pages generate, and the bash completion parses.
    crate::dist::run()?;
    // Benchmark smoke (issue 3): every benchmarked path forwards traffic; no speed threshold.
    crate::bench::run(&crate::bench::Options {
        quick: true,
        ..crate::bench::Options::default()
    })?;
    if options.vm {
        vm::test()?;
    }
    Ok(())
}
