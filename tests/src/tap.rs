//! The VM's end of a tap device: frames written to and read from `/dev/net/tun`.

use std::{
    fs::File,
    io::{Read as _, Write as _},
    os::fd::AsRawFd as _,
    time::Duration,
};

/// A tap opened by name, as a VM's hypervisor would.
#[derive(Debug)]
pub struct TapEnd {
    file: File,
}

impl TapEnd {
    /// Opens the tap `name` inside namespace `netns`.
    pub fn open(netns: &str, name: &str) -> Self {
        let name = name.to_string();
        let file =
            vswitch::netlink::netns::run_in(netns, move || vswitch::netlink::tap::open(&name))
                .expect("entering the namespace")
                .unwrap_or_else(|error| panic!("opening the tap: {error}"));
        Self { file }
    }

    /// Writes one frame, as the VM sending it.
    pub fn send(&self, frame: &[u8]) {
        (&self.file)
            .write_all(frame)
            .expect("writing a frame to the tap");
    }

    /// Whether a frame the VM reads within `within` matches `wanted`.
    pub fn receives(&self, within: Duration, wanted: impl Fn(&[u8]) -> bool) -> bool {
        crate::raw::arrives(within, || self.receive_one(), wanted)
    }

    /// One frame, or `None` when none comes within 50 ms.
    fn receive_one(&self) -> Option<Vec<u8>> {
        let mut poll = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&raw mut poll, 1, 50) } <= 0 {
            return None;
        }
        let mut buffer = [0u8; 2048];
        let len = (&self.file).read(&mut buffer).ok()?;
        Some(buffer[..len].to_vec())
    }
}
