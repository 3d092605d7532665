//! The BPF filesystem that holds the pins.

use std::{
    ffi::CString,
    io,
    os::unix::fs::{DirBuilderExt as _, PermissionsExt as _},
    path::Path,
};

const BPF_FS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The mode of the pin directories: the pins give whoever opens them the switch's maps and
/// links, so only root may reach them.
pub const PIN_DIR_MODE: u32 = 0o700;

/// Makes sure `/sys/fs/bpf` is a BPF filesystem, mounting one if it is not (as systemd does),
/// and creates `dir` below it, empty and root-only.
pub fn prepare(dir: &Path) -> io::Result<()> {
    mount()?;
    // Pins left by an agent that was killed would make pinning fail.
    remove(dir);
    create_private(dir)
}

/// Creates `dir` and its missing parents with [`PIN_DIR_MODE`], and gives `dir` and its parent
/// (`/sys/fs/bpf/vswitch`) that mode also when they were there already (made by an older
/// version, or by hand).
pub fn create_private(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PIN_DIR_MODE)
        .create(dir)?;
    let private = std::fs::Permissions::from_mode(PIN_DIR_MODE);
    if let Some(parent) = dir.parent() {
        std::fs::set_permissions(parent, private.clone())?;
    }
    std::fs::set_permissions(dir, private)
}

/// Like [`prepare`], but keeps what `dir` holds: an agent adopts the pins of its predecessor.
///
/// Returns `false` when `/sys/fs/bpf` was no BPF filesystem and this process mounted one of its
/// own: pins there do not outlive this process's mount namespace (`ip netns exec` gives every
/// command a fresh `/sys`), so no later agent can adopt them.
pub fn prepare_keeping(dir: &Path) -> io::Result<bool> {
    let shared = !mount()?;
    create_private(dir)?;
    Ok(shared)
}

/// Mounts a BPF filesystem on `/sys/fs/bpf` unless one is there; whether it did.
fn mount() -> io::Result<bool> {
    let mounted = !is_bpffs(Path::new(BPF_FS))?;
    if mounted {
        let target = CString::new(BPF_FS).expect("no NUL");
        let kind = c"bpf";
        // SAFETY: valid C strings; no data argument.
        let ret = unsafe {
            libc::mount(
                kind.as_ptr(),
                target.as_ptr(),
                kind.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(mounted)
}

/// Removes `dir` and the pins in it.
pub fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn is_bpffs(path: &Path) -> io::Result<bool> {
    let path = CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
    // SAFETY: `statfs` is plain data that the call fills in.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and a valid out pointer.
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stat.f_type == BPF_FS_MAGIC)
}
