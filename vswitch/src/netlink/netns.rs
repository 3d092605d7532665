//! Named network namespaces, compatible with `ip netns` (bind mounts under `/run/netns`).

use std::{
    ffi::CString,
    fs::File,
    io,
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
};

use super::{NetlinkError, propagation};

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
///
/// The handle is mounted where it propagates to every mount namespace, also when this process
/// runs under `ip netns exec` (see `propagation`).
pub fn create(name: &str) -> Result<(), NetlinkError> {
    let what = format!("creating netns {name}");
    let mount_ns =
        propagation::handle_namespace(Path::new(NETNS_RUN_DIR)).map_err(NetlinkError::io(&what))?;
    let target = path(name);
    in_mount_namespace(mount_ns.as_ref(), || {
        std::fs::create_dir_all(NETNS_RUN_DIR)?;
        make_run_dir_shared()?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)?;
        // SAFETY: unshare only changes this short-lived thread's namespace.
        let bound = check(unsafe { libc::unshare(libc::CLONE_NEWNET) }).and_then(|()| {
            mount(
                Path::new("/proc/thread-self/ns/net"),
                &target,
                libc::MS_BIND,
            )
        });
        if bound.is_err() {
            let _ = std::fs::remove_file(&target);
        }
        bound
    })
    .map_err(NetlinkError::io(what))
}

/// Deletes the namespace called `name`, as `ip netns del` does. Its devices go with it.
///
/// The handle is unmounted in the mount namespace [`create`] mounted it in, which takes it away
/// from every namespace it propagated to.
pub fn delete(name: &str) -> Result<(), NetlinkError> {
    let what = format!("deleting netns {name}");
    let mount_ns =
        propagation::handle_namespace(Path::new(NETNS_RUN_DIR)).map_err(NetlinkError::io(&what))?;
    let target = path(name);
    in_mount_namespace(mount_ns.as_ref(), || {
        let c_target = c_path(&target)?;
        // SAFETY: a valid C string; a lazy unmount of the handle.
        match check(unsafe { libc::umount2(c_target.as_ptr(), libc::MNT_DETACH) }) {
            // Not mounted here (a handle left by an agent whose mount namespace is gone).
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {}
            other => other?,
        }
        std::fs::remove_file(&target)
    })
    .map_err(NetlinkError::io(what))
}

/// A named network namespace that is deleted (with its devices) when the guard drops, also
/// after a failure: what the tests build their topologies in, and what a caller that makes a
/// namespace for a while holds.
#[derive(Debug)]
pub struct NetnsGuard {
    name: String,
}

impl NetnsGuard {
    /// Creates the namespace called `name` (see [`create`]).
    pub fn create(name: &str) -> Result<Self, NetlinkError> {
        create(name)?;
        Ok(Self::adopt(name))
    }

    /// Takes charge of the namespace called `name`, which something else is about to create
    /// (or has created): it is deleted on drop if it exists by then.
    pub fn adopt(name: &str) -> Self {
        Self {
            name: name.to_string(),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if exists(&self.name)
            && let Err(error) = delete(&self.name)
        {
            log::warn!("{error}");
        }
    }
}

/// Runs `f` on a new thread that has entered `mount_ns` (this process's mount namespace when
/// `None`); the process's other threads stay where they are.
fn in_mount_namespace<T: Send>(
    mount_ns: Option<&File>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some(mount_ns) = mount_ns {
                    // A thread that shares its filesystem context (root, cwd) with others may
                    // not enter a mount namespace: give this one its own first.
                    // SAFETY: both calls change only this thread's context and namespace.
                    check(unsafe { libc::unshare(libc::CLONE_FS) })?;
                    // SAFETY: as above; `mount_ns` is an open mount namespace file.
                    check(unsafe { libc::setns(mount_ns.as_raw_fd(), libc::CLONE_NEWNS) })?;
                }
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Runs `f` on a thread that has entered the namespace called `name`.
///
/// Sockets that `f` opens stay in that namespace, so netlink connections made there manage it.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, NetlinkError> {
    run_in_file(&open(name)?, &format!("netns {name}"), f)
}

/// Runs `f` on a thread that has entered the namespace open as `file` (a named namespace, or a
/// path such as `/proc/PID/ns/net` that a container runtime hands over); `what` names it in
/// errors.
pub fn run_in_file<T: Send>(
    file: &File,
    what: &str,
    f: impl FnOnce() -> T + Send,
) -> Result<T, NetlinkError> {
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
    .map_err(NetlinkError::io(format!("entering {what}")))
}

/// `ip netns add` makes its run directory a shared mount (bound on itself first if it is no mount
/// point) so that the handles under it show in every mount namespace; do the same.
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
