//! The git revision the binary is built from, for `vswitch --version` and the metrics.

use std::{path::Path, process::Command};

/// The variable the revision reaches the crate through.
pub const REVISION_ENV: &str = "VSWITCH_GIT_REVISION";

/// Sets [`REVISION_ENV`] to the short hash of `HEAD` in `root` ("unknown" outside a git
/// checkout, as in a published crate), rebuilt when `HEAD` moves.
pub fn emit(root: &Path) {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let revision = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // HEAD names the branch, the branch's ref file the commit (or packed-refs, once packed).
    for file in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file]) {
            println!("cargo:rerun-if-changed={}", root.join(path).display());
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rustc-env={REVISION_ENV}={revision}");
}
