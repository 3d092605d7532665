//! The benchmark's own eBPF object ([`TRAFFICGEN`]): the live-frames generator, the sinks and
//! stubs around the switch under test, and the plain XDP and TCX forwarders.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, PerCpuArray, PerCpuValues, xdp::DevMapHash},
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
/// The plain TCX forwarder (`bpf_redirect_peer`).
const REDIRECT_PEER: &str = "trafficgen_redirect_peer";
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
    /// Sends a copy to every interface in `TG_BROADCAST` (the plain XDP flood).
    Broadcast,
}

impl Program {
    const ALL: [Self; 5] = [
        Self::Tx,
        Self::Drop,
        Self::Pass,
        Self::Redirect,
        Self::Broadcast,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Tx => "trafficgen_tx",
            Self::Drop => "trafficgen_drop",
            Self::Pass => "trafficgen_pass",
            Self::Redirect => "trafficgen_redirect",
            Self::Broadcast => "trafficgen_broadcast",
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
        for name in [SINK, REDIRECT_PEER] {
            generator
                .classifier(name)
                .load()
                .unwrap_or_else(|error| panic!("loading {name}: {error}"));
        }
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
        self.attach_classifier(SINK, netns, ifname);
    }

    /// Attaches the plain TCX forwarder at the ingress of `ifname` in namespace `netns`; it
    /// sends what arrives there to the peer of the interface [`TrafficGen::forward_to_peer`]
    /// names.
    pub fn attach_redirect_peer(&mut self, netns: &str, ifname: &str) {
        self.attach_classifier(REDIRECT_PEER, netns, ifname);
    }

    fn attach_classifier(&mut self, name: &str, netns: &str, ifname: &str) {
        let classifier = self.classifier(name);
        netns::run_in(netns, || classifier.attach(ifname, TcAttachType::Ingress))
            .expect("entering the namespace")
            .unwrap_or_else(|error| panic!("attaching {name} to {ifname}: {error}"));
    }

    fn classifier(&mut self, name: &str) -> &mut SchedClassifier {
        self.ebpf
            .program_mut(name)
            .unwrap_or_else(|| panic!("the classifier {name}"))
            .try_into()
            .expect("a classifier")
    }

    /// Makes the plain TCX forwarder hand frames arriving on veth `from` to the ingress of the
    /// peer of veth `to` (both in the forwarder's namespace).
    pub fn forward_to_peer(&mut self, from: u32, to: u32) {
        let mut peers: HashMap<_, u32, u32> = self
            .ebpf
            .map_mut("TG_PEERS")
            .expect("TG_PEERS")
            .try_into()
            .expect("a hash map");
        peers.insert(from, to, 0).expect("filling TG_PEERS");
    }

    /// Adds interface `ifindex` in `netns` to the plain broadcast's devmap.
    pub fn broadcast_to(&mut self, netns: &str, ifindex: u32) {
        let mut ports: DevMapHash<_> = self
            .ebpf
            .map_mut("TG_BROADCAST")
            .expect("TG_BROADCAST")
            .try_into()
            .expect("a devmap");
        netns::run_in(netns, || ports.insert(ifindex, ifindex, None, 0))
            .expect("entering the namespace")
            .expect("filling TG_BROADCAST");
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

    /// Makes the generator cycle through `count` distinct source addresses (0: the
    /// template's own), starting again from the first; the addresses are
    /// [`learning_source`]`(first..first + count)`.
    pub fn set_sources(&mut self, first: u32, count: u32) {
        let mut sources: Array<_, u32> = self
            .ebpf
            .map_mut("TG_SOURCES")
            .expect("TG_SOURCES")
            .try_into()
            .expect("an array");
        sources.set(0, count, 0).expect("writing TG_SOURCES");
        sources.set(1, first, 0).expect("writing TG_SOURCES");
        let mut position: PerCpuArray<_, u32> = self
            .ebpf
            .map_mut("TG_SEQUENCE")
            .expect("TG_SEQUENCE")
            .try_into()
            .expect("a per-CPU array");
        let cpus = aya::util::nr_cpus().expect("the number of CPUs");
        position
            .set(
                0,
                PerCpuValues::try_from(vec![0; cpus]).expect("one value per CPU"),
                0,
            )
            .expect("writing TG_SEQUENCE");
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
        self.transmit(netns, ifname, frame, |_, elapsed| elapsed < duration)
    }

    /// Like [`TrafficGen::generate`], until at least `frames` are sent (in batches of
    /// [`REPEAT`]).
    pub fn generate_frames(
        &mut self,
        netns: &str,
        ifname: &str,
        frame: &[u8],
        frames: u64,
    ) -> (u64, Duration) {
        self.transmit(netns, ifname, frame, |sent, _| sent < frames)
    }

    /// Transmits batches of copies of `frame` while `more(sent, elapsed)`.
    fn transmit(
        &mut self,
        netns: &str,
        ifname: &str,
        frame: &[u8],
        more: impl Fn(u64, Duration) -> bool + Sync,
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
            while more(sent, started.elapsed()) {
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

/// The `n`th source address the generator cycles through (see [`TrafficGen::set_sources`]).
pub const fn learning_source(n: u32) -> [u8; 6] {
    let [a, b, c, d] = n.to_be_bytes();
    [0x0a, 0x1e, a, b, c, d]
}
