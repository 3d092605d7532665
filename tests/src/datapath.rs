//! The datapath fixture of the BPF_PROG_TEST_RUN tests: the real object loaded in a test
//! namespace, with three ports on veths and an underlay.

use aya::programs::{
    Program, ProgramError, SchedClassifier, TestRun, TestRunAttrs, TestRunOptions, TestRunResult,
    Xdp,
};
use vswitch::{
    agent::{Port, bpffs, flood_groups, flood_sets},
    config::{Hook, PortKind, PortSpec, VlanMode},
    datapath::{Maps, Programs},
    state,
};
use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    program_names,
    stats::PortStats,
    switch::SwitchConfig,
};

use crate::{names, netns::Netns};

/// `XDP_DROP`.
pub const XDP_DROP: u32 = 1;
/// `XDP_REDIRECT`.
pub const XDP_REDIRECT: u32 = 4;
/// `TC_ACT_OK`.
pub const TC_ACT_OK: u32 = 0;
/// `TC_ACT_SHOT`.
pub const TC_ACT_SHOT: u32 = 2;
/// `TC_ACT_REDIRECT`.
pub const TC_ACT_REDIRECT: u32 = 7;
/// The fixture's ageing time.
pub const AGEING_NS: u64 = 300 * 1_000_000_000;
/// `sizeof(struct __sk_buff)`, and the offset of its `ifindex` field.
const SKB_CTX_LEN: usize = 192;
const SKB_IFINDEX_OFFSET: usize = 40;

/// Three configured ports and the loaded datapath, all inside a test namespace, with an
/// underlay interface `u0` (its peer `v0` beside the ports' peers) that tunnels may use.
pub struct Fixture {
    /// The loaded object.
    pub programs: Programs,
    /// Its maps.
    pub maps: Maps,
    /// The three ports.
    pub ports: Vec<Port>,
    /// The ifindex of the underlay `u0`.
    pub underlay: u32,
    /// The namespace of the peers `q1`..`q3` and `v0`.
    pub peers: String,
    /// Where the pass programs' links are pinned.
    pins: std::path::PathBuf,
}

impl Fixture {
    /// The ifindex of port `port` (0-based).
    pub fn ifindex(&self, port: usize) -> u32 {
        self.ports[port].ifindex
    }

    /// The counters of port `port`.
    pub fn stats(&self, port: usize) -> PortStats {
        self.maps
            .port_stats(self.ports[port].slot)
            .expect("reading counters")
    }

    /// Writes a learned entry for `mac` in VLAN 1 on `port`.
    pub fn learn(&mut self, mac: [u8; 6], port: usize, last_seen_ns: u64) {
        let entry = FdbEntry::learned(Location::port(self.ifindex(port)), last_seen_ns);
        self.maps
            .set_fdb(FdbKey { mac, vlan: 1 }, entry)
            .expect("writing the FDB");
    }

    /// Changes the configuration of port `port` (0-based) as `change` says and writes it to the
    /// datapath, with the static entries of its `allowed_macs`.
    pub fn reconfigure(&mut self, port: usize, change: impl FnOnce(&mut PortSpec)) {
        change(&mut self.ports[port].spec);
        let port = &self.ports[port];
        let egress = self.programs.egress_fd().expect("egress program");
        self.maps
            .set_port(port.ifindex, port.config(), egress)
            .expect("writing the port");
        for key in port.allowed_entries() {
            self.maps
                .set_fdb(key, FdbEntry::fixed(Location::port(port.ifindex)))
                .expect("writing an allowed address");
        }
    }

    /// Writes the plain XDP flood groups of the ports as they are configured now, as the agent
    /// does for ports that run the XDP program (the fixture's ports are configured for TCX).
    pub fn write_flood_groups(&mut self) {
        let as_xdp: Vec<Port> = self
            .ports
            .iter()
            .cloned()
            .map(|mut port| {
                port.spec.hook = Hook::Xdp;
                port
            })
            .collect();
        self.maps
            .write_flood_groups(&flood_groups(&as_xdp, Port::config))
            .expect("writing the flood groups");
    }

    /// Learned entries that port `port` (0-based) holds, as its `max_macs` counts them.
    pub fn macs_held(&self, port: usize) -> u64 {
        self.maps
            .macs_held(self.ports[port].slot)
            .expect("reading the count")
    }

    /// The FDB entry of `mac` in VLAN 1.
    pub fn fdb(&self, mac: [u8; 6]) -> Option<FdbEntry> {
        self.maps
            .fdb_entries()
            .expect("reading the FDB")
            .into_iter()
            .find(|(key, _)| key.mac == mac && key.vlan == 1)
            .map(|(_, entry)| entry)
    }

    /// Runs `frame` through the XDP program as if received on `ingress`.
    pub fn xdp(&mut self, ingress: u32, frame: &[u8]) -> u32 {
        self.xdp_program(program_names::XDP_INGRESS, ingress, frame)
    }

    /// Runs `frame` through the XDP program `name` as if received on `ingress`.
    pub fn xdp_program(&mut self, name: &str, ingress: u32, frame: &[u8]) -> u32 {
        self.try_xdp_program(name, ingress, frame)
            .expect("BPF_PROG_TEST_RUN")
    }

    /// Runs `frame` through the XDP program `name` as if received on `ingress`; the kernel's
    /// refusal of the run (a frame it cannot build a context for) is an error.
    pub fn try_xdp_program(
        &mut self,
        name: &str,
        ingress: u32,
        frame: &[u8],
    ) -> Result<u32, ProgramError> {
        let ctx = xdp_md(ingress, frame);
        self.try_run_out::<Xdp>(name, frame, &ctx)
            .map(|(verdict, _)| verdict)
    }

    /// Runs `frame` through the XDP program `name` as if received on `ingress`; its verdict and
    /// the frame as the program left it.
    pub fn xdp_out(&mut self, name: &str, ingress: u32, frame: &[u8]) -> (u32, Vec<u8>) {
        let ctx = xdp_md(ingress, frame);
        self.run_out::<Xdp>(name, frame, &ctx)
    }

    /// Runs `frame` through the XDP program as if received on `ingress`, with live frames: its
    /// redirects happen, through the devmap egress program, out of the ports to their peers.
    pub fn xdp_live(&mut self, ingress: u32, frame: &[u8]) {
        let ctx = xdp_md(ingress, frame);
        self.run::<Xdp>(program_names::XDP_INGRESS, frame, &ctx, true);
    }

    /// Runs `frame` through the TCX program as if received on `ingress`.
    pub fn tc(&mut self, ingress: u32, frame: &[u8]) -> u32 {
        self.tc_out(program_names::TC_INGRESS, ingress, frame).0
    }

    /// Runs `frame` through the tc program `name` as if received on `ingress`; its verdict and
    /// the frame as the program left it.
    pub fn tc_out(&mut self, name: &str, ingress: u32, frame: &[u8]) -> (u32, Vec<u8>) {
        self.try_tc_out(name, ingress, frame)
            .expect("BPF_PROG_TEST_RUN")
    }

    /// [`Fixture::tc_out`], with the kernel's refusal of the run as an error.
    pub fn try_tc_out(
        &mut self,
        name: &str,
        ingress: u32,
        frame: &[u8],
    ) -> Result<(u32, Vec<u8>), ProgramError> {
        let mut ctx = [0u8; SKB_CTX_LEN];
        ctx[SKB_IFINDEX_OFFSET..SKB_IFINDEX_OFFSET + 4].copy_from_slice(&ingress.to_ne_bytes());
        self.try_run_out::<SchedClassifier>(name, frame, &ctx)
    }

    /// Sends `frame` into the switch on port `ingress` (0-based) through `path`, so that what
    /// it floods or forwards really leaves the ports and reaches their peers.
    pub fn switch(&mut self, path: Path, ingress: usize, frame: &[u8]) {
        let ifindex = self.ifindex(ingress);
        match path {
            Path::Xdp => self.xdp_live(ifindex, frame),
            Path::Tc => {
                self.tc(ifindex, frame);
            }
        }
    }

    /// Lets native XDP redirects into the ports reach their peers: a veth drops them unless
    /// its peer has an XDP program.
    pub fn accept_xdp_on_peers(&mut self) {
        for n in 1..=3 {
            let name = format!("q{n}");
            let ifindex = vswitch::netlink::netns::run_in(&self.peers, || nix_ifindex(&name))
                .expect("entering the peers' namespace");
            let pin = self.pins.join(format!("pass-{name}"));
            self.programs
                .attach_pass_in(&self.peers, ifindex, &pin)
                .expect("attaching the pass program to a peer");
        }
    }

    /// Runs program `name` once on `frame` with context `ctx`; returns its verdict. With `live`
    /// (XDP only), the kernel acts on the verdict, reports none, and returns no data.
    pub fn run<P>(&mut self, name: &str, frame: &[u8], ctx: &[u8], live: bool) -> u32
    where
        P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = TestRunResult>,
        for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
    {
        if !live {
            return self.run_out::<P>(name, frame, ctx).0;
        }
        self.program::<P>(name)
            .test_run(TestRunOptions {
                data_in: Some(frame),
                ctx_in: Some(ctx),
                attrs: TestRunAttrs::new().xdp_live_frames(1),
                ..TestRunOptions::default()
            })
            .expect("BPF_PROG_TEST_RUN")
            .return_value
    }

    /// Runs program `name` once on `frame` with context `ctx`; returns its verdict and the
    /// frame as it left the program.
    pub fn run_out<P>(&mut self, name: &str, frame: &[u8], ctx: &[u8]) -> (u32, Vec<u8>)
    where
        P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = TestRunResult>,
        for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
    {
        self.try_run_out::<P>(name, frame, ctx)
            .expect("BPF_PROG_TEST_RUN")
    }

    /// [`Fixture::run_out`], with the kernel's refusal of the run as an error.
    pub fn try_run_out<P>(
        &mut self,
        name: &str,
        frame: &[u8],
        ctx: &[u8],
    ) -> Result<(u32, Vec<u8>), ProgramError>
    where
        P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = TestRunResult>,
        for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
    {
        let mut out = vec![0u8; frame.len() + 256];
        let result = self.program::<P>(name).test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(out.as_mut_slice()),
            ctx_in: Some(ctx),
            ..TestRunOptions::default()
        })?;
        out.truncate(result.data_size_out as usize);
        Ok((result.return_value, out))
    }

    fn program<P>(&mut self, name: &str) -> &mut P
    where
        for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
    {
        self.programs
            .ebpf_mut()
            .program_mut(name)
            .expect("the object has the program")
            .try_into()
            .expect("the program has the expected type")
    }
}

/// Builds the fixture in fresh namespaces and runs `test` on it there.
pub fn with_datapath(vlans: [VlanMode; 3], test: impl FnOnce(&mut Fixture) + Send) {
    let switch_ns = Netns::new(&names::unique("d"));
    let peers_ns = Netns::new(&names::unique("e"));
    for n in 1..=3 {
        switch_ns.veth_to(&format!("p{n}"), &peers_ns, &format!("q{n}"));
    }
    switch_ns.veth_to("u0", &peers_ns, "v0");
    let peers = peers_ns.name().to_string();
    let pins = PinDir(state::pin_dir(switch_ns.name()));
    vswitch::netlink::netns::run_in(switch_ns.name(), || {
        bpffs::prepare(&pins.0).expect("preparing the pin directory");
        let mut programs = Programs::load(0).expect("loading the datapath");
        let egress = programs
            .egress_fd()
            .expect("egress program")
            .try_clone()
            .unwrap();
        let (mut maps, _) = Maps::take_pinned(programs.ebpf_mut(), &pins.0).expect("maps");
        maps.set_switch(SwitchConfig {
            ageing_ns: AGEING_NS,
            ..SwitchConfig::default()
        })
        .unwrap();
        let mut ports = Vec::new();
        for (n, vlan) in (1..=3).zip(vlans) {
            let name = format!("p{n}");
            let ifindex = nix_ifindex(&name);
            let port = Port {
                spec: PortSpec::plain(name, PortKind::Existing, vlan, Hook::Tc, true),
                ifindex,
                slot: n,
            };
            maps.set_port(ifindex, port.config(), &egress).unwrap();
            ports.push(port);
        }
        for (vid, set) in flood_sets(&ports) {
            maps.set_flood(vid, set).unwrap();
        }
        let mut fixture = Fixture {
            programs,
            maps,
            ports,
            underlay: nix_ifindex("u0"),
            peers,
            pins: pins.0.clone(),
        };
        test(&mut fixture);
    })
    .expect("entering the test namespace");
}

/// The test's pin directory, removed on drop (also when the test fails), which detaches the
/// links pinned in it.
struct PinDir(std::path::PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        bpffs::remove(&self.0);
    }
}

/// A `struct xdp_md` for `frame` received on `ingress`: data, data_end, data_meta,
/// ingress_ifindex, rx_queue_index, egress_ifindex.
fn xdp_md(ingress: u32, frame: &[u8]) -> [u8; 24] {
    let mut ctx = [0u8; 24];
    ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    ctx[12..16].copy_from_slice(&ingress.to_ne_bytes());
    ctx
}

/// Keeps the calling thread on CPU 0, so that consecutive test runs share that CPU's flow cache
/// (a test run runs the program on the CPU of the thread that asks for it).
pub fn stay_on_one_cpu() {
    // SAFETY: a zeroed CPU set is a valid empty one.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the set and its size are this process's own.
    let pinned = unsafe {
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(pinned, 0, "pinning the test thread to CPU 0");
}

/// The ifindex of interface `name` in this namespace.
pub fn nix_ifindex(name: &str) -> u32 {
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: a valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(index, 0, "no interface {name:?}");
    index
}

/// Three access ports of VLAN 1.
pub fn access() -> [VlanMode; 3] {
    [
        VlanMode::Access(1),
        VlanMode::Access(1),
        VlanMode::Access(1),
    ]
}

/// The hook a frame is switched at.
#[derive(Clone, Copy, Debug)]
pub enum Path {
    /// The XDP program.
    Xdp,
    /// The TCX program.
    Tc,
}

/// Both hooks.
pub const PATHS: [Path; 2] = [Path::Xdp, Path::Tc];
