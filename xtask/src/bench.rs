//! `cargo xtask bench [--quick] [--only PART[,PART]] [--json FILE] [--chart FILE]`: builds the
//! switch and the benchmark harness (`tests/src/bin/bench.rs`) in release mode and runs it.

use std::{path::PathBuf, process::Command};

use anyhow::{Context as _, bail};

use crate::prerequisites;

/// Options of `cargo xtask bench`.
#[derive(Debug, Default, clap::Args)]
pub struct Options {
    /// About a minute, one repetition: a smoke check that every path forwards traffic.
    #[arg(long)]
    pub quick: bool,
    /// Measure only these parts (comma-separated): xdp, flood, broadcast, stack, mesh,
    /// scale, live, branches, programs, vxlan, cluster. For developing a row; the targets of the parts
    /// left out read "not measured".
    #[arg(long, value_name = "PART[,PART]")]
    pub only: Option<String>,
    /// Write the results and the run's environment as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Draw the PNG chart of ratios against the Linux bridge to FILE.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// Build and run the dev profile instead of release: for the smoke run of `cargo xtask
    /// test`, which asserts forwarding, never speed, and whose tests built that profile
    /// already (a release build would add minutes to every test run).
    #[arg(skip)]
    pub dev_profile: bool,
}

/// Installs what is missing, builds (in release mode unless [`Options::dev_profile`]) and runs
/// the benchmark.
pub fn run(options: &Options) -> anyhow::Result<()> {
    prerequisites::require_root()?;
    prerequisites::build_chain()?;
    prerequisites::test_tools()?;
    let mut build = vec!["build"];
    if !options.dev_profile {
        build.push("--release");
    }
    build.extend([
        "--package",
        "vswitch",
        "--package",
        "tests",
        "--bin",
        "vswitch",
        "--bin",
        "bench",
    ]);
    prerequisites::run("cargo", &build)?;
    let profile = if options.dev_profile {
        "debug"
    } else {
        "release"
    };
    let binaries = crate::workspace_root().join("target").join(profile);
    let mut command = Command::new(binaries.join("bench"));
    command.env("VSWITCH_BIN", binaries.join("vswitch"));
    // The agents the benchmark starts say only what went wrong: their start and stop lines,
    // dozens per run, would bury the table. `RUST_LOG` set by the caller wins.
    if std::env::var_os("RUST_LOG").is_none() {
        command.env(
            "RUST_LOG",
            "warn,netlink_packet_route=error,netlink_proto=error",
        );
    }
    if options.quick {
        command.arg("--quick");
    }
    if let Some(parts) = &options.only {
        command.arg("--only").arg(parts);
    }
    if let Some(path) = &options.json {
        command.arg("--json").arg(path);
    }
    if let Some(path) = &options.chart {
        command.arg("--chart").arg(path);
    }
    let status = command.status().context("running the benchmark")?;
    if !status.success() {
        bail!("the benchmark failed with {status}");
    }
    Ok(())
}
