//! The guest's initramfs: busybox, `init.sh` and the modules that mounting
//! the host root takes, written as a newc cpio archive.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use anyhow::{Context as _, bail};

use super::setup::Guest;

/// The guest's init script (stage 1 in the initramfs, stage 2 after
/// `switch_root`).
const INIT: &str = include_str!("init.sh");

/// The static busybox of Debian's `busybox-static`.
const BUSYBOX: &str = "/bin/busybox";

/// Modules that the initramfs loads, in this order after their
/// dependencies: PCI virtio, the serial ports for the command's output,
/// 9p for the host root, and overlayfs for the writable layer.
const MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_console",
    "9pnet_virtio",
    "9p",
    "overlay",
];

/// Writes `guest.initramfs`, unless it already holds the same bytes.
pub fn write(guest: &Guest) -> anyhow::Result<()> {
    let modules_dir = guest.modules.join(&guest.release);
    let mut cpio = Cpio::default();
    for dir in ["/bin", "/dev", "/modules"] {
        cpio.dir(dir);
    }
    cpio.char_device("/dev/console", 0o600, 5, 1);
    let busybox = fs::read(BUSYBOX).with_context(|| format!("reading {BUSYBOX}"))?;
    cpio.file("/bin/busybox", 0o755, &busybox);
    cpio.file("/init", 0o755, INIT.as_bytes());
    let mut load = String::new();
    for module in load_order(&modules_dir)? {
        let name = Path::new(&module)
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| format!("module path {module}"))?;
        let path = modules_dir.join(&module);
        let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        cpio.file(&format!("/modules/{name}"), 0o644, &data);
        load.push_str(name);
        load.push('\n');
    }
    cpio.file("/modules/load", 0o644, load.as_bytes());
    let bytes = cpio.finish();

    if fs::read(&guest.initramfs).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let partial = guest.initramfs.with_extension("partial");
    fs::write(&partial, &bytes).with_context(|| format!("writing {}", partial.display()))?;
    fs::rename(&partial, &guest.initramfs)
        .with_context(|| format!("writing {}", guest.initramfs.display()))
}

/// The paths (relative to `modules_dir`) of [`MODULES`] and everything
/// they depend on, dependencies first, from `depmod`'s `modules.dep`.
/// Modules built into the kernel are left out.
fn load_order(modules_dir: &Path) -> anyhow::Result<Vec<String>> {
    let read = |name: &str| {
        let path = modules_dir.join(name);
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    let module_name = |path: &str| {
        let file = path.rsplit('/').next().unwrap_or(path);
        file.strip_suffix(".ko").unwrap_or(file).replace('-', "_")
    };
    let modules_dep = read("modules.dep")?;
    let mut dependencies = BTreeMap::new();
    for line in modules_dep.lines() {
        if let Some((module, deps)) = line.split_once(':') {
            let deps: Vec<&str> = deps.split_whitespace().collect();
            dependencies.insert(module_name(module), (module.to_owned(), deps));
        }
    }
    let builtin: BTreeSet<String> = read("modules.builtin")?.lines().map(module_name).collect();

    let mut order = Vec::new();
    let mut stack: Vec<(String, bool)> = MODULES
        .iter()
        .rev()
        .map(|name| (name.replace('-', "_"), false))
        .collect();
    while let Some((name, expanded)) = stack.pop() {
        let Some((path, deps)) = dependencies.get(&name) else {
            if builtin.contains(&name) {
                continue;
            }
            bail!("module {name} is neither in modules.dep nor built in");
        };
        if order.contains(path) {
            continue;
        }
        if expanded {
            order.push(path.clone());
        } else {
            stack.push((name, true));
            stack.extend(deps.iter().map(|dep| (module_name(dep), false)));
        }
    }
    Ok(order)
}

/// A newc ("070701") cpio archive being written, as the kernel unpacks
/// an initramfs: every entry owned by root, with mtime 0.
#[derive(Default)]
struct Cpio {
    /// The archive so far.
    bytes: Vec<u8>,
    /// Entries written so far (each gets the next inode number).
    entries: u32,
}

impl Cpio {
    /// Adds a directory.
    fn dir(&mut self, path: &str) {
        self.entry(path, 0o040_755, (0, 0), &[]);
    }

    /// Adds a regular file with `mode` permissions.
    fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, 0o100_000 | mode, (0, 0), data);
    }

    /// Adds a character device node.
    fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.entry(path, 0o020_000 | mode, (major, minor), &[]);
    }

    /// Adds one entry: header, NUL-terminated name and data, each padded
    /// to four bytes. Paths are stored without their leading `/`.
    fn entry(&mut self, path: &str, mode: u32, (rdev_major, rdev_minor): (u32, u32), data: &[u8]) {
        let name = path.trim_start_matches('/');
        self.entries += 1;
        let fields = [
            self.entries,
            mode,
            0, // uid
            0, // gid
            if mode & 0o170_000 == 0o040_000 { 2 } else { 1 },
            0, // mtime
            u32::try_from(data.len()).expect("initramfs files are smaller than 4 GiB"),
            0, // devmajor
            0, // devminor
            rdev_major,
            rdev_minor,
            u32::try_from(name.len() + 1).expect("short names"),
            0, // check
        ];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    /// Pads the archive to a multiple of four bytes.
    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    /// Adds the trailer and returns the archive.
    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.bytes
    }
}
