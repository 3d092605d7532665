//! The guest kernel: which one, its Debian packages, `depmod`, `vmlinux`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use super::setup::{Apt, check, output};

/// Debian's current kernel, as apt names it.
#[derive(Debug)]
pub struct Release {
    /// The ABI, e.g. `6.1.0-56`.
    pub abi: String,
    /// The packages' version, e.g. `6.1.192-2`.
    pub version: String,
    /// The upstream series, e.g. `6.1` (names `linux-kbuild-6.1`).
    pub series: String,
}

impl Release {
    /// Asks apt which kernel `linux-image-amd64` depends on and at which
    /// version, refreshing apt's lists first if it does not know.
    pub fn resolve(apt: &Apt) -> anyhow::Result<Self> {
        Self::from_apt().or_else(|error| {
            if !apt.update()? {
                return Err(error);
            }
            Self::from_apt()
        })
    }

    /// [`Self::resolve`] from apt's lists as they are.
    fn from_apt() -> anyhow::Result<Self> {
        let depends = output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
        let abi = depends
            .lines()
            .filter_map(|line| line.trim().strip_prefix("Depends: linux-image-"))
            .find_map(|package| package.strip_suffix("-amd64"))
            .context("apt-cache depends linux-image-amd64 names no linux-image-<abi>-amd64")?
            .to_owned();
        let image = format!("linux-image-{abi}-amd64");
        let show = output(Command::new("apt-cache").args(["show", "--no-all-versions", &image]))?;
        let version = show
            .lines()
            .find_map(|line| line.strip_prefix("Version: "))
            .with_context(|| format!("apt-cache show {image} gives no version"))?
            .to_owned();
        let series = abi.split('.').take(2).collect::<Vec<_>>().join(".");
        Ok(Self {
            abi,
            version,
            series,
        })
    }

    /// The kernel release, e.g. `6.1.0-56-amd64`.
    pub fn name(&self) -> String {
        format!("{}-amd64", self.abi)
    }

    /// The packages the guest takes: kernel and modules, headers, kbuild
    /// tools, and the source (for netdevsim and `extract-vmlinux`).
    fn packages(&self) -> [String; 5] {
        let Self { abi, series, .. } = self;
        [
            format!("linux-image-{abi}-amd64"),
            format!("linux-headers-{abi}-amd64"),
            format!("linux-headers-{abi}-common"),
            format!("linux-kbuild-{series}"),
            format!("linux-source-{series}"),
        ]
    }
}

/// Downloads `release`'s packages into `cache/debs` (those not there yet),
/// unpacks them into `dir/root`, points the headers' Makefile at that
/// copy, and extracts netdevsim's source and `extract-vmlinux` into
/// `dir/src`. Stamped by `dir/unpacked.stamp`.
pub fn fetch(cache: &Path, dir: &Path, release: &Release) -> anyhow::Result<()> {
    let stamp = dir.join("unpacked.stamp");
    if stamp.exists() {
        return Ok(());
    }
    let debs_dir = cache.join("debs");
    fs::create_dir_all(&debs_dir).with_context(|| format!("creating {}", debs_dir.display()))?;
    let root = dir.join("root");
    if root.exists() {
        fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    for package in release.packages() {
        let deb = download(&debs_dir, &package, &release.version)?;
        check(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    }

    // The headers' Makefile includes the common headers by absolute path.
    let usr_src = root.join("usr/src");
    let makefile = usr_src.join(format!("linux-headers-{}/Makefile", release.name()));
    let text =
        fs::read_to_string(&makefile).with_context(|| format!("reading {}", makefile.display()))?;
    let text = text.replace("/usr/src/", &format!("{}/", usr_src.display()));
    fs::write(&makefile, text).with_context(|| format!("writing {}", makefile.display()))?;

    let source = format!("linux-source-{}", release.series);
    let tarball = usr_src.join(format!("{source}.tar.xz"));
    let src = dir.join("src");
    if src.exists() {
        fs::remove_dir_all(&src).with_context(|| format!("removing {}", src.display()))?;
    }
    fs::create_dir_all(&src).with_context(|| format!("creating {}", src.display()))?;
    eprintln!("vm: extracting netdevsim and extract-vmlinux from {source}");
    check(
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(&src)
            .arg("--strip-components=1")
            .arg(format!("{source}/drivers/net/netdevsim"))
            .arg(format!("{source}/scripts/extract-vmlinux")),
    )?;
    fs::remove_file(&tarball).with_context(|| format!("removing {}", tarball.display()))?;
    fs::write(&stamp, "").with_context(|| format!("writing {}", stamp.display()))
}

/// The `.deb` of `package` at `version` in `debs_dir`, downloaded with
/// `apt-get download` unless it is there already.
fn download(debs_dir: &Path, package: &str, version: &str) -> anyhow::Result<PathBuf> {
    let find = || -> anyhow::Result<Option<PathBuf>> {
        let prefix = format!("{package}_{}_", version.replace(':', "%3a"));
        for entry in fs::read_dir(debs_dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|name| name.to_str());
            if name.is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".deb")) {
                return Ok(Some(path));
            }
        }
        Ok(None)
    };
    if let Some(deb) = find()? {
        return Ok(deb);
    }
    eprintln!("vm: downloading {package} {version}");
    check(
        Command::new("apt-get")
            .current_dir(debs_dir)
            // The cache may be unreadable to apt's sandbox user.
            .args(["-o", "APT::Sandbox::User=root", "download"])
            .arg(format!("{package}={version}")),
    )?;
    find()?.with_context(|| {
        format!(
            "apt-get download left no {package} in {}",
            debs_dir.display()
        )
    })
}

/// Runs `depmod` on the unpacked module tree of `release` in `dir/root`.
pub fn depmod(dir: &Path, release: &str) -> anyhow::Result<()> {
    check(
        Command::new("depmod")
            .arg("-b")
            .arg(dir.join("root"))
            .arg(release),
    )
}

/// Extracts the uncompressed kernel (it boots faster under TCG than
/// `vmlinuz`) with the source's `scripts/extract-vmlinux`, unless done.
pub fn extract_vmlinux(dir: &Path, release: &str, vmlinux: &Path) -> anyhow::Result<()> {
    if vmlinux.exists() {
        return Ok(());
    }
    let vmlinuz = dir.join(format!("root/boot/vmlinuz-{release}"));
    let output = Command::new("sh")
        .arg(dir.join("src/scripts/extract-vmlinux"))
        .arg(&vmlinuz)
        .output()
        .context("running extract-vmlinux")?;
    if !output.status.success() || output.stdout.is_empty() {
        bail!(
            "extract-vmlinux {} failed: {}\n{}",
            vmlinuz.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let partial = vmlinux.with_extension("partial");
    fs::write(&partial, &output.stdout)
        .with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, vmlinux).with_context(|| format!("writing {}", vmlinux.display()))
}
