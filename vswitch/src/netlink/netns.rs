//! Named network namespaces, compatible with `ip netns` (bind mounts under `/run/netns`).

use std::{
    ffi::CString,
    fs::File,
    io,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
};

use super::NetlinkError;

/// Where `ip netns` keeps named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The path of the namespace called `name`.
pub fn path(name: &str) -> PathBuf {
    Path::new(NETNS_RUN_DIR).join(name)
}

/// Whether a namespace called `name` exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Opens the namespace called `name`.
pub fn open(name: &str) -> Result<File, NetlinkError> {
    File::open(path(name)).map_err(NetlinkError::io(format!("opening netns {name}")))
}

/// Creates the namespace called `name`, as `ip netns add` does.
pub fn create(name: &str) -> Result<(), NetlinkError> {
    let what = format!("creating netns {name}");
    std::fs::create_dir_all(NETNS_RUN_DIR).map_err(NetlinkError::io(&what))?;
    make_run_dir_shared().map_err(NetlinkError::io(&what))?;
    let target = path(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(NetlinkError::io(&what))?;
    let bind_target = target.clone();
    let result = std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: unshare only changes this short-lived thread's namespace.
        check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
        mount(
            Path::new("/proc/thread-self/ns/net"),
            &bind_target,
            libc::MS_BIND,
        )
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")));
    if let Err(error) = result {
        let _ = std::fs::remove_file(&target);
        return Err(NetlinkError::io(what)(error));
    }
    Ok(())
}

/// Deletes the namespace called `name`, as `ip netns del` does. Its devices go with it.
pub fn delete(name: &str) -> Result<(), NetlinkError> {
    let what = format!("deleting netns {name}");
    let target = path(name);
    let c_target = c_path(&target).map_err(NetlinkError::io(&what))?;
    // SAFETY: a valid C string; a lazy unmount of our own bind mount.
    check(unsafe { libc::umount2(c_target.as_ptr(), libc::MNT_DETACH) })
        .map_err(NetlinkError::io(&what))?;
    std::fs::remove_file(&target).map_err(NetlinkError::io(what))
}

/// Runs `f` on a thread that has entered the namespace called `name`.
///
/// Sockets that `f` opens stay in that namespace, so netlink connections made there manage it.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, NetlinkError> {
    let file = open(name)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> io::Result<T> {
                // SAFETY: `file` is an open namespace file; only this thread switches.
                check(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) })?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
    .map_err(NetlinkError::io(format!("entering netns {name}")))
}

/// `ip netns` makes its run directory a shared mount so that namespaces show in every mount
/// namespace; do the same so `ip netns exec` sees ours.
fn make_run_dir_shared() -> io::Result<()> {
    let dir = Path::new(NETNS_RUN_DIR);
    if mount_propagation(dir, libc::MS_SHARED | libc::MS_REC).is_ok() {
        return Ok(());
    }
    mount(dir, dir, libc::MS_BIND | libc::MS_REC)?;
    mount_propagation(dir, libc::MS_SHARED | libc::MS_REC)
}

fn mount(source: &Path, target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    let source = c_path(source)?;
    let target = c_path(target)?;
    let none = c"none";
    // SAFETY: valid C strings; no data argument.
    check(unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            none.as_ptr(),
            flags,
            std::ptr::null(),
        )
    })
}

fn mount_propagation(target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    let target = c_path(target)?;
    let none = c"none";
    // SAFETY: valid C strings; changing propagation needs no source.
    check(unsafe {
        libc::mount(
            none.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    })
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
