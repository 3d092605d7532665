//! `cargo xtask vm setup`: host packages, then each cached step in order.

use std::{
    cell::Cell,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, bail};

use super::{cache_dir, initramfs, kernel, netdevsim};

/// Host packages the VM needs: QEMU, depmod, the initramfs's busybox, and
/// what building netdevsim and extracting `vmlinux` take.
const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "kmod",
    "busybox-static",
    "make",
    "gcc",
    "xz-utils",
];

/// File in the cache directory naming the release that was set up last.
const CURRENT: &str = "current";

/// Stamp written in a release's directory once everything but the
/// initramfs is in place.
const READY: &str = "ready.stamp";

/// A prepared guest: what booting it takes.
#[derive(Debug)]
pub struct Guest {
    /// The kernel release, e.g. `6.1.0-56-amd64`.
    pub release: String,
    /// The release's cache directory, `target/vm/<release>`.
    pub dir: PathBuf,
    /// The uncompressed kernel image.
    pub vmlinux: PathBuf,
    /// The initramfs (an uncompressed newc cpio archive).
    pub initramfs: PathBuf,
    /// The directory the guest mounts over its `/lib/modules`.
    pub modules: PathBuf,
}

/// Installs what is missing and prepares the guest under `target/vm/`.
///
/// With `resolve`, asks apt for Debian's current kernel and prepares it if
/// it is new; without it, reuses the release set up last when it is
/// complete, so that a run costs no apt look-up. The initramfs is
/// rewritten only when its content changed.
pub fn setup(resolve: bool) -> anyhow::Result<Guest> {
    let apt = Apt::default();
    install_packages(&apt)?;
    let cache = cache_dir();
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let cache = cache
        .canonicalize()
        .with_context(|| format!("resolving {}", cache.display()))?;
    let current = cache.join(CURRENT);
    let known = fs::read_to_string(&current)
        .ok()
        .map(|release| release.trim().to_owned())
        .filter(|release| cache.join(release).join(READY).exists());
    let guest = match known {
        Some(release) if !resolve => guest(&cache, &release),
        _ => {
            let mut release = kernel::Release::resolve(&apt)?;
            let ready = |release: &kernel::Release| cache.join(release.name()).join(READY).exists();
            // A kernel to download: with fresh lists, as old ones disappear.
            if !ready(&release) && apt.update()? {
                release = kernel::Release::resolve(&apt)?;
            }
            let guest = guest(&cache, &release.name());
            if !ready(&release) {
                prepare(&cache, &release, &guest)?;
            }
            fs::write(&current, &guest.release)
                .with_context(|| format!("writing {}", current.display()))?;
            guest
        }
    };
    initramfs::write(&guest)?;
    Ok(guest)
}

/// The paths of `release`'s guest in `cache`.
fn guest(cache: &Path, release: &str) -> Guest {
    let dir = cache.join(release);
    Guest {
        release: release.to_owned(),
        vmlinux: dir.join("vmlinux"),
        initramfs: dir.join("initramfs.cpio"),
        modules: dir.join("root/lib/modules"),
        dir,
    }
}

/// Downloads and unpacks the kernel, builds netdevsim and extracts
/// `vmlinux`; each step is skipped when its stamp or output exists.
fn prepare(cache: &Path, release: &kernel::Release, guest: &Guest) -> anyhow::Result<()> {
    eprintln!(
        "vm: preparing kernel {} ({}) in {}",
        guest.release,
        release.version,
        guest.dir.display()
    );
    fs::create_dir_all(&guest.dir).with_context(|| format!("creating {}", guest.dir.display()))?;
    kernel::fetch(cache, &guest.dir, release)?;
    netdevsim::install(&guest.dir, &guest.release)?;
    kernel::extract_vmlinux(&guest.dir, &guest.release, &guest.vmlinux)?;
    let ready = guest.dir.join(READY);
    fs::write(&ready, "").with_context(|| format!("writing {}", ready.display()))
}

/// apt's package lists, refreshed at most once by a setup.
#[derive(Default)]
pub struct Apt {
    /// Whether `apt-get update` ran.
    updated: Cell<bool>,
}

impl Apt {
    /// Runs `apt-get update` unless it ran already; says whether it ran.
    pub fn update(&self) -> anyhow::Result<bool> {
        if self.updated.replace(true) {
            return Ok(false);
        }
        check(Command::new("apt-get").arg("update"))?;
        Ok(true)
    }
}

/// Installs the missing ones of [`PACKAGES`] with apt, without
/// recommended packages, after refreshing apt's lists.
fn install_packages(apt: &Apt) -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|package| !installed(package))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("vm: installing {}", missing.join(" "));
    apt.update()?;
    check(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    )
}

/// Whether dpkg reports `package` as installed.
fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout == b"installed")
}

/// Runs `command` with its stdout sent to our stderr (so that a cargo
/// runner's stdout stays the test's) and fails unless it succeeds.
pub fn check(command: &mut Command) -> anyhow::Result<()> {
    let stderr = std::io::stderr();
    let stdout = std::os::fd::AsFd::as_fd(&stderr)
        .try_clone_to_owned()
        .context("duplicating stderr")?;
    let status = command
        .stdout(stdout)
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// Runs `command` and returns its stdout, failing unless it succeeds.
pub fn output(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed: {}", output.status);
    }
    String::from_utf8(output.stdout).with_context(|| format!("{command:?} printed non-UTF-8"))
}
