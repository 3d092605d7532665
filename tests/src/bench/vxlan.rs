//! VXLAN through vswitch against the kernel's vxlan device in a Linux bridge, on the same
//! topology: two simulated hosts on one underlay, the sender's VTEP being the one measured and
//! the receiver's always the kernel's, so only the encapsulating side differs.

use std::time::Duration;

use super::{link, samples::Samples, stackgen, udp};
use crate::{
    command::pings,
    overlay::{Family, Overlay},
};

/// Which VTEP encapsulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encapsulator {
    /// vswitch's TCX datapath.
    Vswitch,
    /// The kernel's vxlan device behind a Linux bridge.
    Kernel,
}

impl Encapsulator {
    /// Both, in report order.
    pub const ALL: [Self; 2] = [Self::Vswitch, Self::Kernel];

    /// Name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Self::Vswitch => "vswitch VTEP",
            Self::Kernel => "kernel vxlan + bridge",
        }
    }
}

/// A two-host overlay whose host 1 encapsulates with `encapsulator`.
pub struct VxlanPair {
    overlay: Overlay,
    /// Who encapsulates.
    pub encapsulator: Encapsulator,
}

impl VxlanPair {
    /// Builds the pair and lets each side learn the other.
    pub fn build(encapsulator: Encapsulator) -> Self {
        let mut overlay = Overlay::new(Family::V4, 2);
        overlay.kernel_vtep(2);
        match encapsulator {
            Encapsulator::Vswitch => overlay.vswitch_vtep(1),
            Encapsulator::Kernel => overlay.kernel_vtep(1),
        }
        let pair = Self {
            overlay,
            encapsulator,
        };
        assert!(
            pings(pair.sender(), &pair.overlay.host(2).address()),
            "{}: the overlay carries no traffic",
            encapsulator.label()
        );
        pair
    }

    fn sender(&self) -> &str {
        self.overlay.host(1).endpoint.name()
    }

    fn receiver(&self) -> &str {
        self.overlay.host(2).endpoint.name()
    }

    /// 64-byte UDP frames from host 1's endpoint's stack (64 flows), delivered per second to
    /// host 2's endpoint, in Mpps.
    pub fn rate(&self, duration: Duration) -> f64 {
        let flow = udp::Flow {
            dst_mac: link::mac(self.receiver(), "eth0"),
            src_mac: link::mac(self.sender(), "eth0"),
            src_ip: self.overlay.host(1).address().parse().expect("an address"),
            dst_ip: self.overlay.host(2).address().parse().expect("an address"),
        };
        let frames: Vec<Vec<u8>> = (0..64).map(|n| udp::frame(&flow, 10_000 + n)).collect();
        let before = link::counters(self.receiver(), "eth0").rx_packets;
        let (_, elapsed) = stackgen::generate(self.sender(), "eth0", &frames, duration);
        std::thread::sleep(Duration::from_millis(100));
        let after = link::counters(self.receiver(), "eth0").rx_packets;
        (after - before) as f64 / elapsed.as_secs_f64() / 1e6
    }

    /// iperf3 from host 1's endpoint to host 2's, in Gbit/s.
    pub fn tcp(&self, seconds: u32) -> f64 {
        super::metrics::iperf3(
            self.receiver(),
            self.sender(),
            &self.overlay.host(2).address(),
            seconds,
        )
        .unwrap_or(0.0)
    }
}

/// The medians of each measurement, by encapsulator, over `reps` alternating repetitions.
pub struct Measured {
    /// 64-byte rate (Mpps), in [`Encapsulator::ALL`] order.
    pub rate: [Samples; 2],
    /// TCP (Gbit/s), in [`Encapsulator::ALL`] order.
    pub tcp: [Samples; 2],
}

/// Measures both encapsulators, alternating, `reps` times.
pub fn measure(reps: usize, duration: Duration, tcp_secs: u32) -> Measured {
    let pairs: Vec<VxlanPair> = Encapsulator::ALL
        .into_iter()
        .map(VxlanPair::build)
        .collect();
    let mut measured = Measured {
        rate: [Samples::default(), Samples::default()],
        tcp: [Samples::default(), Samples::default()],
    };
    for rep in 0..reps {
        for n in super::order(pairs.len(), rep) {
            measured.rate[n].push(pairs[n].rate(duration));
            measured.tcp[n].push(pairs[n].tcp(tcp_secs));
        }
    }
    measured
}
