//! `cargo xtask dist`: what an operator installs beside the binary, in `target/dist/`: shell
//! completions (bash, zsh, fish) and man pages generated from the CLI's clap definition
//! (clap_complete, clap_mangen), and the systemd unit.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::prerequisites;

/// The systemd unit, in the repository.
const UNIT: &str = "dist/vswitch@.service";

/// Builds vswitch and writes `target/dist/`; returns the directory.
pub fn run() -> anyhow::Result<PathBuf> {
    prerequisites::build_chain()?;
    prerequisites::run("cargo", &["build", "--package", "vswitch"])?;
    let root = crate::workspace_root();
    let dist = root.join("target/dist");
    // The generator is the binary's own (hidden) `generate`: the CLI's definition lives there,
    // and xtask cannot depend on the vswitch crate, whose build needs the eBPF toolchain that
    // xtask installs.
    let binary = root.join("target/debug/vswitch");
    let dist_text = dist.to_string_lossy();
    prerequisites::run(&binary.to_string_lossy(), &["generate", &dist_text])?;
    let systemd = dist.join("systemd");
    std::fs::create_dir_all(&systemd)?;
    std::fs::copy(root.join(UNIT), systemd.join("vswitch@.service"))
        .with_context(|| format!("copying {UNIT}"))?;
    // The bash completion must at least be valid bash.
    prerequisites::run(
        "bash",
        &[
            "-n",
            &dist.join("completions/vswitch.bash").to_string_lossy(),
        ],
    )
    .context("the generated bash completion is not valid bash")?;
    println!("xtask: wrote {}", dist.display());
    Ok(dist)
}
