//! AF_PACKET sockets on an interface inside a namespace: send crafted frames, sniff arrivals.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::{Duration, Instant},
};

/// A raw socket bound to one interface.
#[derive(Debug)]
pub struct RawSocket {
    fd: OwnedFd,
}

impl RawSocket {
    /// Opens a socket on `ifname` inside namespace `netns`.
    pub fn open(netns: &str, ifname: &str) -> Self {
        let ifname = ifname.to_string();
        vswitch::netlink::netns::run_in(netns, move || Self::open_here(&ifname))
            .expect("entering the namespace")
            .unwrap_or_else(|error| panic!("opening a raw socket: {error}"))
    }

    fn open_here(ifname: &str) -> io::Result<Self> {
        let name = std::ffi::CString::new(ifname).expect("no NUL in names");
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = bind_packet_socket(ifindex, (libc::ETH_P_ALL as u16).to_be())?;
        let on: libc::c_int = 1;
        // SAFETY: a valid option value of the right length. With it, the kernel reports VLAN
        // tags it holds outside the packet data, so frames can be seen as they were on the wire.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_AUXDATA,
                (&raw const on).cast(),
                size_of::<libc::c_int>() as u32,
            )
        };
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        // SAFETY: a valid option value of the right length.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        Ok(Self { fd })
    }

    /// Sends one frame out of the interface.
    pub fn send(&self, frame: &[u8]) {
        // SAFETY: a valid buffer on a bound socket.
        let sent =
            unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            sent,
            frame.len() as isize,
            "sending a frame: {}",
            io::Error::last_os_error()
        );
    }

    /// Whether a frame arriving on the interface (not sent from it) matches `wanted` within
    /// `within`. Frames are seen as on the wire: a VLAN tag the kernel stripped is put back.
    pub fn receives(&self, within: Duration, wanted: impl Fn(&[u8]) -> bool) -> bool {
        arrives(within, || self.receive_one(), wanted)
    }

    /// Every incoming frame within `within`.
    pub fn collect(&self, within: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + within;
        let mut frames = Vec::new();
        while Instant::now() < deadline {
            frames.extend(self.receive_one());
        }
        frames
    }

    /// One incoming frame, or `None` on timeout or for an outgoing one.
    fn receive_one(&self) -> Option<Vec<u8>> {
        let mut buffer = [0u8; 2048];
        // Control messages are read in place as `cmsghdr`, which needs 8-byte alignment.
        let mut control = [0u64; 8];
        // SAFETY: sockaddr_ll is plain data.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        };
        // SAFETY: msghdr is plain data; the pointers set below outlive the call.
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_name = (&raw mut from).cast();
        message.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
        message.msg_iov = &raw mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = size_of_val(&control);
        // SAFETY: every buffer in `message` is valid for its length.
        let len = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &raw mut message, 0) };
        if len <= 0 || from.sll_pkttype == libc::PACKET_OUTGOING {
            return None;
        }
        let mut frame = buffer[..len as usize].to_vec();
        if let Some(tci) = stripped_tag(&message)
            && frame.len() >= 12
        {
            frame.splice(12..12, [0x81, 0x00, (tci >> 8) as u8, tci as u8]);
        }
        Some(frame)
    }
}

/// Whether `next` (which returns `None` after a short timeout) yields a frame that matches
/// `wanted` within `within`.
pub fn arrives(
    within: Duration,
    mut next: impl FnMut() -> Option<Vec<u8>>,
    wanted: impl Fn(&[u8]) -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(frame) = next()
            && wanted(&frame)
        {
            return true;
        }
    }
    false
}

/// An AF_PACKET raw socket bound to interface `ifindex` for `protocol` (network byte order;
/// 0 receives nothing, for a send-only socket).
pub fn bind_packet_socket(ifindex: u32, protocol: u16) -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation; the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol)) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol;
    address.sll_ifindex = ifindex as i32;
    // SAFETY: a valid address of the right length.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const address).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// The VLAN tag the kernel reported in `PACKET_AUXDATA`, if any.
fn stripped_tag(message: &libc::msghdr) -> Option<u16> {
    // SAFETY: walking the control messages the kernel wrote into `message`.
    let mut header = unsafe { libc::CMSG_FIRSTHDR(message) };
    while !header.is_null() {
        // SAFETY: `header` points into the control buffer.
        let cmsg = unsafe { &*header };
        if cmsg.cmsg_level == libc::SOL_PACKET && cmsg.cmsg_type == libc::PACKET_AUXDATA {
            // SAFETY: the kernel wrote a `tpacket_auxdata` here.
            let aux: libc::tpacket_auxdata = unsafe {
                libc::CMSG_DATA(header)
                    .cast::<libc::tpacket_auxdata>()
                    .read_unaligned()
            };
            return (aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0).then_some(aux.tp_vlan_tci);
        }
        // SAFETY: as above.
        header = unsafe { libc::CMSG_NXTHDR(message, header) };
    }
    None
}
