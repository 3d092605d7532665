//! The benchmark's own XDP object ([`TRAFFICGEN`]): the live-frames generator, the sinks and
//! stubs around the switch under test, and the plain XDP forwarder.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use aya::{
    Ebpf,
    maps::{Array, xdp::DevMapHash},
    programs::{
        SchedClassifier, TcAttachType, TestRun as _, TestRunAttrs, TestRunOptions, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        xdp::XdpLink,
    },
};
use vswitch::netlink::netns;

use super::{link, udp::FRAME_LEN};

/// The object, `vswitch-ebpf/src/bin/trafficgen.rs`, compiled by `vswitch`'s build script
/// with the datapath (one build of the eBPF crate) and found through `build.rs`. It is a
/// separate object, so the datapath carries no benchmark code.
static TRAFFICGEN: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("VSWITCH_EBPF_OBJECTS"), "/trafficgen"));

/// The tc sink of stack-sourced frames.
const SINK: &str = "trafficgen_sink";
/// Frames per `BPF_PROG_TEST_RUN` call.
const REPEAT: u32 = 1 << 16;
/// Frames the kernel builds and transmits per batch in live-frames mode.
const BATCH: u32 = 64;

/// A program of the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// Gives each frame its own flow and transmits it (the generator).
    Tx,
    /// Drops (a sink counted by the interface's rx_packets).
    Drop,
    /// Passes to the stack (lets a veth accept XDP redirects).
    Pass,
    /// Redirects to the interface that `TG_PORTS` names (the plain XDP forwarder).
    Redirect,
}

impl Program {
    const ALL: [Self; 4] = [Self::Tx, Self::Drop, Self::Pass, Self::Redirect];

    fn name(self) -> &'static str {
        match self {
            Self::Tx => "trafficgen_tx",
            Self::Drop => "trafficgen_drop",
            Self::Pass => "trafficgen_pass",
            Self::Redirect => "trafficgen_redirect",
        }
    }
}

/// The loaded object. Dropping it detaches every program it attached.
pub struct TrafficGen {
    ebpf: Ebpf,
}

impl std::fmt::Debug for TrafficGen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrafficGen")
    }
}

impl TrafficGen {
    /// Loads the object and its programs.
    pub fn load() -> Self {
        let mut ebpf = Ebpf::load(TRAFFICGEN).expect("loading trafficgen");
        for program in Program::ALL {
            xdp(&mut ebpf, program).load().expect("loading a program");
        }
        let mut generator = Self { ebpf };
        generator.sink().load().expect("loading the tc sink");
        generator
    }

    /// Attaches `program` to `ifname` in namespace `netns`; generic (skb) mode where the
    /// interface has no native XDP (macvlan).
    pub fn attach(&mut self, program: Program, netns: &str, ifname: &str, generic: bool) {
        let ifindex = link::ifindex(netns, ifname);
        let mode = if generic {
            XdpMode::Skb
        } else {
            XdpMode::default()
        };
        let xdp = xdp(&mut self.ebpf, program);
        netns::run_in(netns, || xdp.attach_to_if_index(ifindex, mode))
            .expect("entering the namespace")
            .unwrap_or_else(|error| panic!("attaching {} to {ifname}: {error}", program.name()));
    }

    /// Puts `program` in place of the program of the XDP link pinned at `pin` (a switch's
    /// pass stub on a veth peer), with `bpf_link_update`: the link stays the switch's, and
    /// goes when the switch removes its pins.
    pub fn replace_on_link(&mut self, program: Program, pin: &Path) {
        let link = PinnedLink::from_pin(pin).unwrap_or_else(|error| {
            panic!("opening the link pinned at {}: {error}", pin.display())
        });
        let link = XdpLink::try_from(FdLink::from(link)).expect("an XDP link");
        xdp(&mut self.ebpf, program)
            .attach_to_link(link)
            .unwrap_or_else(|error| panic!("replacing the program of {}: {error}", pin.display()));
    }

    /// Attaches the tc sink, which drops the generators' frames after they are counted, at
    /// the ingress of `ifname` in namespace `netns`.
    pub fn attach_sink(&mut self, netns: &str, ifname: &str) {
        let sink = self.sink();
        netns::run_in(netns, || sink.attach(ifname, TcAttachType::Ingress))
            .expect("entering the namespace")
            .unwrap_or_else(|error| panic!("attaching {SINK} to {ifname}: {error}"));
    }

    fn sink(&mut self) -> &mut SchedClassifier {
        self.ebpf
            .program_mut(SINK)
            .expect("the tc sink")
            .try_into()
            .expect("a classifier")
    }

    /// Makes the plain forwarder send frames arriving on `from` out of `to`, both interfaces
    /// of namespace `netns` (the devmap resolves indexes in the caller's namespace).
    pub fn forward(&mut self, netns: &str, from: u32, to: u32) {
        let mut ports: DevMapHash<_> = self
            .ebpf
            .map_mut("TG_PORTS")
            .expect("TG_PORTS")
            .try_into()
            .expect("a devmap");
        netns::run_in(netns, || ports.insert(from, to, None, 0))
            .expect("entering the namespace")
            .expect("filling TG_PORTS");
    }

    /// Transmits copies of `frame` (each with its own UDP source port) out of `ifname` in
    /// `netns` for `duration`, from one thread. Returns the frames sent and the time taken.
    pub fn generate(
        &mut self,
        netns: &str,
        ifname: &str,
        frame: &[u8],
        duration: Duration,
    ) -> (u64, Duration) {
        let ifindex = link::ifindex(netns, ifname);
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress.
        let mut ctx = [0u8; 24];
        ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
        ctx[12..16].copy_from_slice(&ifindex.to_ne_bytes());
        let mut template: Array<_, [u8; FRAME_LEN]> = self
            .ebpf
            .map_mut("TG_FRAME")
            .expect("TG_FRAME")
            .try_into()
            .expect("an array");
        let bytes: [u8; FRAME_LEN] = frame.try_into().expect("a 64-byte frame");
        template.set(0, bytes, 0).expect("writing TG_FRAME");
        let program = xdp(&mut self.ebpf, Program::Tx);
        netns::run_in(netns, || {
            let started = Instant::now();
            let mut sent = 0u64;
            while started.elapsed() < duration {
                program
                    .test_run(TestRunOptions {
                        data_in: Some(frame),
                        ctx_in: Some(&ctx),
                        repeat: REPEAT,
                        attrs: TestRunAttrs::new().xdp_live_frames(BATCH),
                        ..TestRunOptions::default()
                    })
                    .expect("BPF_PROG_TEST_RUN in live-frames mode");
                sent += u64::from(REPEAT);
            }
            (sent, started.elapsed())
        })
        .expect("entering the generator's namespace")
    }
}

fn xdp(ebpf: &mut Ebpf, program: Program) -> &mut Xdp {
    ebpf.program_mut(program.name())
        .expect("a trafficgen program")
        .try_into()
        .expect("an XDP program")
}
