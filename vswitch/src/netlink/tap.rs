//! Tap devices through `/dev/net/tun`: the switch creates persistent ones for tap children, and
//! a VM (or a test) opens them by name to read and write frames.

use std::{fs::File, io, os::fd::AsRawFd as _};

use super::NetlinkError;

/// Opens the tap called `name` (creating it if there is none) as a file whose reads and writes
/// are whole Ethernet frames, without packet information.
pub fn open(name: &str) -> io::Result<File> {
    let file = File::options()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    // SAFETY: an all-zero `ifreq` is valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= request.ifr_name.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF takes a pointer to a valid `ifreq`.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &raw mut request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Creates the persistent tap `name`: it outlives the file that made it, until deleted.
pub fn create(name: &str) -> Result<(), NetlinkError> {
    let what = || format!("creating tap {name} through /dev/net/tun");
    let file = open(name).map_err(NetlinkError::io(what()))?;
    // SAFETY: TUNSETPERSIST takes an integer argument.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETPERSIST, 1) } != 0 {
        return Err(NetlinkError::io(what())(io::Error::last_os_error()));
    }
    Ok(())
}
