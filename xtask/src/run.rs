//! `cargo xtask run`: build and start the demo switch.

use std::{os::unix::process::CommandExt as _, process::Command};

use anyhow::Context as _;

use crate::prerequisites;

/// Options of `cargo xtask run`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Arguments for `vswitch run` (e.g. `-- --config my.toml`); without them, the demo.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// Installs what is missing, builds in release mode and replaces this process with the switch.
pub fn run(options: &Options) -> anyhow::Result<()> {
    prerequisites::require_root()?;
    prerequisites::build_chain()?;
    prerequisites::run("cargo", &["build", "--release", "--package", "vswitch"])?;
    let binary = crate::workspace_root().join("target/release/vswitch");
    let error = Command::new(&binary).arg("run").args(&options.args).exec();
    Err(error).with_context(|| format!("starting {}", binary.display()))
}
