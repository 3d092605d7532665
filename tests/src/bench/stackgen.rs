//! The stack-sourced generator: an AF_PACKET socket sending batches with `sendmmsg`, the way a
//! container's own stack hands frames to its veth.

use std::{
    io,
    os::fd::{AsRawFd as _, OwnedFd},
    time::{Duration, Instant},
};

use vswitch::netlink::netns;

use super::link;

/// `PACKET_QDISC_BYPASS` from `linux/if_packet.h`.
const PACKET_QDISC_BYPASS: libc::c_int = 20;

/// Sends `frames` round-robin out of `ifname` in `netns` for `duration`, from one thread.
/// Returns the frames the kernel accepted and the time taken.
pub fn generate(
    netns: &str,
    ifname: &str,
    frames: &[Vec<u8>],
    duration: Duration,
) -> (u64, Duration) {
    let ifindex = link::ifindex(netns, ifname);
    netns::run_in(netns, || {
        let socket = open(ifindex).unwrap_or_else(|error| panic!("AF_PACKET socket: {error}"));
        let mut iovecs: Vec<libc::iovec> = frames
            .iter()
            .map(|frame| libc::iovec {
                iov_base: frame.as_ptr().cast_mut().cast(),
                iov_len: frame.len(),
            })
            .collect();
        // SAFETY: mmsghdr is plain data; the zeroed fields mean "no address, no control".
        let mut messages: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iovec| {
                let mut message: libc::mmsghdr = unsafe { std::mem::zeroed() };
                message.msg_hdr.msg_iov = iovec;
                message.msg_hdr.msg_iovlen = 1;
                message
            })
            .collect();
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < duration {
            // SAFETY: every message points at a live iovec over a live frame.
            let count = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    messages.as_mut_ptr(),
                    messages.len() as u32,
                    0,
                )
            };
            if let Ok(count) = u64::try_from(count) {
                sent += count;
            }
        }
        (sent, started.elapsed())
    })
    .expect("entering the generator's namespace")
}

/// A send-only packet socket on `ifindex` (protocol 0: it receives nothing, not even its own
/// frames) that bypasses the qdisc layer.
fn open(ifindex: u32) -> io::Result<OwnedFd> {
    let fd = crate::raw::bind_packet_socket(ifindex, 0)?;
    let one: libc::c_int = 1;
    // SAFETY: a valid option value of the right length.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_QDISC_BYPASS,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as u32,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}
