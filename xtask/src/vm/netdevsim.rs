//! netdevsim, which no Debian kernel ships: built out of tree against the
//! guest's headers and added to its module tree.

use std::{fs, path::Path, process::Command};

use anyhow::Context as _;

use super::{kernel, setup::check};

/// Builds `netdevsim.ko` from `dir/src/drivers/net/netdevsim` against the
/// unpacked headers of `release`, installs it as `extra/netdevsim.ko` in
/// the guest's module tree and runs `depmod`. Stamped by
/// `dir/netdevsim.stamp`.
pub fn install(dir: &Path, release: &str) -> anyhow::Result<()> {
    let stamp = dir.join("netdevsim.stamp");
    if stamp.exists() {
        return Ok(());
    }
    eprintln!("vm: building netdevsim.ko");
    let build = dir.join("netdevsim");
    if build.exists() {
        fs::remove_dir_all(&build).with_context(|| format!("removing {}", build.display()))?;
    }
    fs::create_dir_all(&build).with_context(|| format!("creating {}", build.display()))?;
    let source = dir.join("src/drivers/net/netdevsim");
    for entry in fs::read_dir(&source).with_context(|| format!("reading {}", source.display()))? {
        let entry = entry?;
        fs::copy(entry.path(), build.join(entry.file_name()))
            .with_context(|| format!("copying {}", entry.path().display()))?;
    }
    let headers = dir.join(format!("root/usr/src/linux-headers-{release}"));
    check(
        Command::new("make")
            .arg("-j2")
            .arg("-C")
            .arg(&headers)
            .arg(format!("M={}", build.display()))
            .args(["CONFIG_NETDEVSIM=m", "modules"]),
    )?;
    let extra = dir.join(format!("root/lib/modules/{release}/extra"));
    fs::create_dir_all(&extra).with_context(|| format!("creating {}", extra.display()))?;
    fs::copy(build.join("netdevsim.ko"), extra.join("netdevsim.ko"))
        .context("installing netdevsim.ko")?;
    kernel::depmod(dir, release)?;
    fs::write(&stamp, "").with_context(|| format!("writing {}", stamp.display()))
}
