//! Builds the eBPF object (`vswitch-ebpf` for `bpfel-unknown-none`, linked by bpf-linker) so
//! that the controller can embed it.
//!
//! The toolchain is the one pinned in `vswitch-ebpf/rust-toolchain.toml`, so the datapath a
//! user gets does not depend on the day the machine's `nightly` was installed;
//! `VSWITCH_EBPF_TOOLCHAIN` overrides it (the canary build of `cargo xtask test --vm` uses it).
//!
//! The build is quiet: the eBPF build's own output (cargo's progress, rustc's diagnostics,
//! bpf-linker's messages) is shown only when it fails.

use std::{
    env, fs,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, anyhow, bail};
use cargo_metadata::{Artifact, Message};

/// Environment variable naming a toolchain to build the eBPF crate with instead of the pin.
const TOOLCHAIN_ENV: &str = "VSWITCH_EBPF_TOOLCHAIN";
/// The eBPF crate's package name and directory.
const EBPF_PACKAGE: &str = "vswitch-ebpf";

#[path = "build/revision.rs"]
mod revision;

fn main() {
    // Cargo shows a failed build script's stderr; a plain message reads better than a backtrace.
    if let Err(error) = build_object() {
        eprintln!("{error:#}");
        std::process::exit(1);
    }
}

/// Builds the eBPF binaries and copies them into `OUT_DIR`.
fn build_object() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .context("vswitch lives one level below the workspace root")?;
    revision::emit(root);
    let ebpf_dir = root.join(EBPF_PACKAGE);
    // The eBPF object changes with its own sources and with the shared crate it compiles in.
    for dir in [&ebpf_dir, &root.join("vswitch-common")] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed={TOOLCHAIN_ENV}");
    let toolchain = match env::var(TOOLCHAIN_ENV) {
        Ok(toolchain) if !toolchain.is_empty() => toolchain,
        _ => pinned_toolchain(&ebpf_dir.join("rust-toolchain.toml"))?,
    };
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // For the build scripts of dependent crates: the tests take their benchmark object here.
    println!("cargo:objects={}", out_dir.display());
    for (name, executable) in build(&ebpf_dir, &toolchain, &out_dir)? {
        let destination = out_dir.join(&name);
        fs::copy(&executable, &destination).with_context(|| {
            format!(
                "copying {} to {}",
                executable.display(),
                destination.display()
            )
        })?;
    }
    Ok(())
}

/// The `channel` of the `[toolchain]` table of `path`.
fn pinned_toolchain(path: &Path) -> anyhow::Result<String> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: toml::Table = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
    file.get("toolchain")
        .and_then(|toolchain| toolchain.get("channel"))
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{}: no [toolchain] channel", path.display()))
}

/// Builds the eBPF crate's binaries with `toolchain`; returns each binary's name and path.
///
/// Fails with everything the build printed when it fails, and prints nothing when it works.
fn build(
    ebpf_dir: &Path,
    toolchain: &str,
    out_dir: &Path,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let endian = env::var("CARGO_CFG_TARGET_ENDIAN")?;
    let target = match endian.as_str() {
        "little" => "bpfel-unknown-none",
        "big" => "bpfeb-unknown-none",
        other => bail!("unsupported endianness {other}"),
    };
    let arch = env::var("CARGO_CFG_TARGET_ARCH")?;
    let rustflags = [
        format!("--cfg=bpf_target_arch=\"{arch}\""),
        "-Cdebuginfo=2".to_string(),
        "-Clink-arg=--btf".to_string(),
    ]
    .join("\x1f");
    let mut command = Command::new("rustup");
    command
        .args([
            "run",
            toolchain,
            "cargo",
            "build",
            "--package",
            EBPF_PACKAGE,
        ])
        .args(["--bins", "--release", "--target", target])
        .args(["-Z", "build-std=core", "--message-format=json"])
        .arg("--target-dir")
        // One directory per toolchain: switching between the pin and a canary rebuilds nothing.
        .arg(out_dir.join("ebpf").join(toolchain))
        .current_dir(ebpf_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        // The outer build's compiler and wrappers are not the eBPF toolchain's.
        .env_remove("RUSTC")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTUP_TOOLCHAIN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("running {command:?}: is rustup installed?"))?;
    let mut stderr = child.stderr.take().context("the build's stderr")?;
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = std::io::BufReader::new(child.stdout.take().context("the build's stdout")?);
    let mut diagnostics = String::new();
    let mut executables = Vec::new();
    for message in Message::parse_stream(stdout) {
        match message.context("reading the eBPF build's messages")? {
            Message::CompilerArtifact(Artifact {
                executable: Some(executable),
                target,
                ..
            }) => executables.push((target.name, executable.into_std_path_buf())),
            Message::CompilerMessage(message) => {
                diagnostics.push_str(&message.message.rendered.unwrap_or_default());
            }
            Message::TextLine(line) => {
                diagnostics.push_str(&line);
                diagnostics.push('\n');
            }
            _ => {}
        }
    }
    let status = child.wait().context("waiting for the eBPF build")?;
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "building the eBPF programs with toolchain {toolchain} failed ({status}).\n\
             Run `cargo xtask test` (or `rustup toolchain install {toolchain} --component \
             rust-src` and `cargo install bpf-linker@0.10.3 --locked`) if a tool is missing.\n\
             {diagnostics}{stderr}"
        );
    }
    Ok(executables)
}
