//! A Debian-kernel VM for kernel features the host lacks (issue 4).
//!
//! `cargo xtask vm setup` prepares a cache under `target/vm/`: Debian's
//! current kernel (unpacked, never installed), an out-of-tree
//! `netdevsim.ko`, an extracted `vmlinux` and a busybox initramfs.
//! `cargo xtask vm run -- CMD ARGS...` boots that kernel under QEMU (TCG),
//! with the host root visible read-only under a tmpfs overlay, runs the
//! command in the guest and hands back its exit status, stdout and stderr.
//! It also works as a cargo runner:
//! `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="<xtask binary> vm run --"`
//! (or `env -u CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER cargo xtask vm
//! run --`: without the `env -u`, cargo would run xtask itself through the
//! runner and stop on the recursion).
//! Other xtask code calls [`run_in_guest`], or [`test`] for the VM test
//! group.

pub(crate) mod group;
mod initramfs;
mod kernel;
mod netdevsim;
mod qemu;
mod setup;

use std::{
    ffi::OsString, os::unix::process::ExitStatusExt as _, path::PathBuf, process::ExitStatus,
    time::Duration,
};

use anyhow::Context as _;

pub use group::test;
pub use setup::setup;

/// The `cargo xtask vm` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Install QEMU and tools, then download and prepare the guest kernel,
    /// netdevsim and the initramfs under `target/vm/` (quick when done).
    Setup,
    /// Boot the guest kernel and run a host-built command in it; usable as
    /// a cargo runner (`... vm run --`).
    Run(RunOptions),
}

/// Options of `cargo xtask vm run`.
#[derive(Debug, clap::Args)]
pub struct RunOptions {
    /// Seconds the command may run in the guest, boot not included.
    #[arg(long, env = "VSWITCH_VM_TIMEOUT", default_value_t = 600)]
    timeout: u64,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// A host-built command to run in the guest.
///
/// It runs as root in the guest, in the current directory of the calling
/// process, with stdin from `/dev/null` and a selection of the caller's
/// environment: `PATH`, `HOME`, `USER`, `LANG`, `LC_ALL`, `TERM`, `TMPDIR`
/// and every variable whose name starts with `RUST_`, `CARGO_` or
/// `VSWITCH_`.
#[derive(Debug, Clone)]
pub struct VmCommand {
    /// The program: a path the host sees, as the guest sees the same root.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Further commands (program and arguments) run after it in the same boot, each whatever
    /// the previous ones returned; the exit status is then the first nonzero one.
    pub then: Vec<Vec<OsString>>,
    /// How long the command may run once the guest has booted.
    pub timeout: Duration,
}

/// Runs `cargo xtask vm <command>`.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Setup => {
            let guest = setup(true)?;
            eprintln!(
                "vm: ready: kernel {} in {}",
                guest.release,
                guest.dir.display()
            );
            Ok(())
        }
        Command::Run(RunOptions { timeout, command }) => {
            let (program, args) = command
                .split_first()
                .context("`vm run` needs a command after `--`")?;
            let status = run_in_guest(&VmCommand {
                program: program.clone(),
                args: args.to_vec(),
                then: Vec::new(),
                timeout: Duration::from_secs(timeout),
            })?;
            match status.code() {
                Some(0) => Ok(()),
                Some(code) => std::process::exit(code),
                None => anyhow::bail!("the guest command ended with {status}"),
            }
        }
    }
}

/// Sets the VM up if needed, boots it and runs `command` in it.
///
/// The command's stdout and stderr are streamed to this process's stdout
/// and stderr; the guest's console is shown only when the boot or the run
/// fails (or always with `VSWITCH_VM_VERBOSE=1`). A boot that hangs is
/// retried once. Returns the command's exit status as the guest's shell
/// reports it (a signal `N` shows as code `128 + N`).
pub fn run_in_guest(command: &VmCommand) -> anyhow::Result<ExitStatus> {
    let guest = setup(false)?;
    let code = qemu::run(&guest, command)?;
    Ok(ExitStatus::from_raw(code << 8))
}

/// The cache directory: `target/vm/` of this workspace, or of
/// `CARGO_TARGET_DIR` when set.
fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    let target = std::path::absolute(&target).unwrap_or(target);
    target.join("vm")
}
