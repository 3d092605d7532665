//! BPF_PROG_TEST_RUN on crafted frames, one test per datapath branch.
//!
//! Each test loads the real object, configures three ports on veths in its own namespace
//! (`p1`..`p3`, peers `q1`..`q3` in a second namespace), runs one frame through the XDP or TCX
//! program and checks the verdict, the counters and the FDB. The egress tests run the XDP
//! program with live frames, so its redirects go through the devmap egress program, and check
//! the bytes that reach the peers on both hooks. They need a kernel whose veth delivers live
//! test-run frames to the peer's stack: Linux 6.1 runs the egress program (the tx counters
//! move) but drops every such frame in the peer (`rx_dropped`), even one left untouched.

use std::time::Duration;

use aya::programs::{
    Program, ProgramError, SchedClassifier, TestRun, TestRunAttrs, TestRunOptions, TestRunResult,
    Xdp,
};
use tests::{
    frames::{ethernet, has_marker, station, tagged},
    names,
    netns::Netns,
    raw::RawSocket,
};
use vswitch::{
    agent::{Port, bpffs, flood_sets, monotonic_ns},
    config::{Hook, PortKind, PortSpec, VlanMode},
    datapath::{Maps, Programs},
    state,
};
use vswitch_common::{
    fdb::{FdbEntry, FdbKey},
    program_names,
    stats::{DropReason, PortStats},
    switch::SwitchConfig,
};

const XDP_DROP: u32 = 1;
const XDP_REDIRECT: u32 = 4;
const TC_ACT_SHOT: u32 = 2;
const TC_ACT_REDIRECT: u32 = 7;
const AGEING_NS: u64 = 300 * 1_000_000_000;
/// `sizeof(struct __sk_buff)`, and the offset of its `ifindex` field.
const SKB_CTX_LEN: usize = 192;
const SKB_IFINDEX_OFFSET: usize = 40;

/// Three configured ports and the loaded datapath, all inside a test namespace.
struct Fixture {
    programs: Programs,
    maps: Maps,
    ports: Vec<Port>,
    peers: String,
    /// Where the pass programs' links are pinned.
    pins: std::path::PathBuf,
}

impl Fixture {
    fn ifindex(&self, port: usize) -> u32 {
        self.ports[port].ifindex
    }

    fn stats(&self, port: usize) -> PortStats {
        self.maps
            .port_stats(self.ports[port].slot)
            .expect("reading counters")
    }

    fn learn(&mut self, mac: [u8; 6], port: usize, last_seen_ns: u64) {
        let entry = FdbEntry::learned(self.ifindex(port), last_seen_ns);
        self.maps
            .set_fdb(FdbKey { mac, vlan: 1 }, entry)
            .expect("writing the FDB");
    }

    fn fdb(&self, mac: [u8; 6]) -> Option<FdbEntry> {
        self.maps
            .fdb_entries()
            .expect("reading the FDB")
            .into_iter()
            .find(|(key, _)| key.mac == mac && key.vlan == 1)
            .map(|(_, entry)| entry)
    }

    /// Runs `frame` through the XDP program as if received on `ingress`.
    fn xdp(&mut self, ingress: u32, frame: &[u8]) -> u32 {
        let ctx = xdp_md(ingress, frame);
        self.run::<Xdp>(program_names::XDP_INGRESS, frame, &ctx, false)
    }

    /// Runs `frame` through the XDP program as if received on `ingress`, with live frames: its
    /// redirects happen, through the devmap egress program, out of the ports to their peers.
    fn xdp_live(&mut self, ingress: u32, frame: &[u8]) {
        let ctx = xdp_md(ingress, frame);
        self.run::<Xdp>(program_names::XDP_INGRESS, frame, &ctx, true);
    }

    /// Runs `frame` through the TCX program as if received on `ingress`.
    fn tc(&mut self, ingress: u32, frame: &[u8]) -> u32 {
        let mut ctx = [0u8; SKB_CTX_LEN];
        ctx[SKB_IFINDEX_OFFSET..SKB_IFINDEX_OFFSET + 4].copy_from_slice(&ingress.to_ne_bytes());
        self.run::<SchedClassifier>(program_names::TC_INGRESS, frame, &ctx, false)
    }

    /// Sends `frame` into the switch on port `ingress` (0-based) through `path`, so that what
    /// it floods or forwards really leaves the ports and reaches their peers.
    fn switch(&mut self, path: Path, ingress: usize, frame: &[u8]) {
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
    fn accept_xdp_on_peers(&mut self) {
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
    fn run<P>(&mut self, name: &str, frame: &[u8], ctx: &[u8], live: bool) -> u32
    where
        P: for<'a> TestRun<Opts<'a> = TestRunOptions<'a>, Result = TestRunResult>,
        for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
    {
        let program: &mut P = self
            .programs
            .ebpf_mut()
            .program_mut(name)
            .expect("the object has the program")
            .try_into()
            .expect("the program has the expected type");
        let mut out = vec![0u8; frame.len() + 64];
        let (data_out, attrs) = if live {
            (None, TestRunAttrs::new().xdp_live_frames(1))
        } else {
            (Some(out.as_mut_slice()), TestRunAttrs::new())
        };
        program
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out,
                ctx_in: Some(ctx),
                attrs,
                ..TestRunOptions::default()
            })
            .expect("BPF_PROG_TEST_RUN")
            .return_value
    }
}

/// Builds the fixture in fresh namespaces and runs `test` on it there.
fn with_datapath(vlans: [VlanMode; 3], test: impl FnOnce(&mut Fixture) + Send) {
    let switch_ns = Netns::new(&names::unique("d"));
    let peers_ns = Netns::new(&names::unique("e"));
    for n in 1..=3 {
        switch_ns.veth_to(&format!("p{n}"), &peers_ns, &format!("q{n}"));
    }
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
        })
        .unwrap();
        let mut ports = Vec::new();
        for (n, vlan) in (1..=3).zip(vlans) {
            let name = format!("p{n}");
            let ifindex = nix_ifindex(&name);
            let port = Port {
                spec: PortSpec {
                    name,
                    kind: PortKind::Existing,
                    vlan,
                    hook: Hook::Tc,
                    learning: true,
                    offload: None,
                    mtu: None,
                },
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

fn nix_ifindex(name: &str) -> u32 {
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: a valid C string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(index, 0, "no interface {name:?}");
    index
}

fn access() -> [VlanMode; 3] {
    [
        VlanMode::Access(1),
        VlanMode::Access(1),
        VlanMode::Access(1),
    ]
}

#[test]
fn unknown_destination_is_flooded_and_source_learned() {
    with_datapath(access(), |fx| {
        let p1 = fx.ifindex(0);
        let verdict = fx.xdp(p1, &ethernet(station(9), station(1), 1));
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(fx.stats(0).learned, 1);
        assert_eq!(fx.fdb(station(1)).map(|entry| entry.ifindex), Some(p1));
    });
}

#[test]
fn known_unicast_goes_to_its_port_only() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 1, monotonic_ns());
        let verdict = fx.xdp(fx.ifindex(0), &ethernet(station(2), station(1), 2));
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(fx.stats(0).forwarded, 1);
        assert_eq!(fx.stats(0).flooded, 0);
    });
}

#[test]
fn destination_on_the_ingress_port_is_dropped() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 0, monotonic_ns());
        let verdict = fx.xdp(fx.ifindex(0), &ethernet(station(2), station(1), 3));
        assert_eq!(verdict, XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::Hairpin as usize], 1);
        assert_eq!(fx.stats(0).forwarded + fx.stats(0).flooded, 0);
    });
}

#[test]
fn aged_entry_is_treated_as_unknown() {
    with_datapath(access(), |fx| {
        // A short ageing time, so that "longer ago than that" exists also on a machine that
        // booted less than the default 300 s ago (a fresh VM guest).
        let ageing_ns = 1_000_000_000;
        fx.maps.set_switch(SwitchConfig { ageing_ns }).unwrap();
        let now = monotonic_ns();
        assert!(now > 2 * ageing_ns, "the clock has run for over 2 s");
        fx.learn(station(2), 1, now - 2 * ageing_ns);
        let verdict = fx.xdp(fx.ifindex(0), &ethernet(station(2), station(1), 4));
        assert_eq!(verdict, XDP_REDIRECT);
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(fx.stats(0).forwarded, 0);
    });
}

#[test]
fn truncated_and_malformed_frames_are_dropped_and_counted() {
    with_datapath(access(), |fx| {
        let p1 = fx.ifindex(0);
        let mut truncated = tagged(station(2), station(1), 1, 5);
        truncated.truncate(16);
        assert_eq!(fx.xdp(p1, &truncated), XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::TruncatedTag as usize], 1);
        let mut group_source = ethernet(station(2), station(1), 6);
        group_source[6] |= 1;
        assert_eq!(fx.xdp(p1, &group_source), XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::InvalidSource as usize], 1);
        assert_eq!(fx.stats(0).forwarded + fx.stats(0).flooded, 0);
        assert!(
            fx.fdb(station(1)).is_none(),
            "a dropped frame must not teach the FDB"
        );
    });
}

#[test]
fn vlan_not_allowed_on_the_port_is_dropped() {
    with_datapath(access(), |fx| {
        let verdict = fx.xdp(fx.ifindex(0), &tagged(station(2), station(1), 10, 8));
        assert_eq!(verdict, XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::VlanIngress as usize], 1);
    });
}

#[test]
fn frame_from_an_interface_that_is_not_a_port_is_dropped() {
    with_datapath(access(), |fx| {
        let loopback = 1;
        assert_eq!(
            fx.xdp(loopback, &ethernet(station(2), station(1), 9)),
            XDP_DROP
        );
        let stray = fx.maps.port_stats(0).unwrap();
        assert_eq!(stray.drops[DropReason::NotAPort as usize], 1);
    });
}

#[test]
fn tc_redirects_known_unicast() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 1, monotonic_ns());
        let verdict = fx.tc(fx.ifindex(0), &ethernet(station(2), station(1), 10));
        assert_eq!(verdict, TC_ACT_REDIRECT);
        assert_eq!(fx.stats(0).forwarded, 1);
        assert_eq!(fx.stats(1).tx_packets, 1);
        assert_eq!(fx.stats(2).tx_packets, 0);
    });
}

#[test]
fn tc_flood_sends_a_copy_to_every_other_port_of_the_vlan() {
    let vlans = [
        VlanMode::Access(1),
        VlanMode::Access(1),
        VlanMode::Access(2),
    ];
    with_datapath(vlans, |fx| {
        let q2 = RawSocket::open(&fx.peers, "q2");
        let q3 = RawSocket::open(&fx.peers, "q3");
        let frame = ethernet(station(9), station(1), 11);
        assert_eq!(fx.tc(fx.ifindex(0), &frame), TC_ACT_SHOT);
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(
            fx.stats(0).tx_packets,
            0,
            "never back out of the ingress port"
        );
        assert_eq!(fx.stats(1).tx_packets, 1);
        assert_eq!(fx.stats(2).tx_packets, 0, "p3 is in another VLAN");
        let within = Duration::from_secs(1);
        assert!(q2.receives(within, |got| has_marker(got, 11)));
        assert!(!q3.receives(within, |got| has_marker(got, 11)));
    });
}

#[test]
fn tc_hairpin_is_dropped() {
    with_datapath(access(), |fx| {
        fx.learn(station(2), 0, monotonic_ns());
        let verdict = fx.tc(fx.ifindex(0), &ethernet(station(2), station(1), 12));
        assert_eq!(verdict, TC_ACT_SHOT);
        assert_eq!(fx.stats(0).drops[DropReason::Hairpin as usize], 1);
    });
}

/// The hook a frame is switched at.
#[derive(Clone, Copy, Debug)]
enum Path {
    Xdp,
    Tc,
}

const PATHS: [Path; 2] = [Path::Xdp, Path::Tc];
/// Priority 5 in a tag control information field.
const PCP5: u16 = 5 << 13;

/// `p1` a trunk of VLAN 10, `p2` an access port of VLAN 10, `p3` a trunk of VLAN 10.
fn trunk_access_trunk() -> [VlanMode; 3] {
    let trunk = || VlanMode::Trunk {
        vlans: vec![10],
        native: None,
    };
    [trunk(), VlanMode::Access(10), trunk()]
}

/// Floods `frame` in on port `ingress` through `path`, and asserts that every peer in
/// `expected` receives exactly the frame given for it.
fn assert_flood_delivers(path: Path, ingress: usize, frame: &[u8], expected: &[(&str, Vec<u8>)]) {
    with_datapath(trunk_access_trunk(), |fx| {
        fx.accept_xdp_on_peers();
        let sockets: Vec<_> = expected
            .iter()
            .map(|(peer, _)| RawSocket::open(&fx.peers, peer))
            .collect();
        fx.switch(path, ingress, frame);
        for ((peer, wanted), socket) in expected.iter().zip(&sockets) {
            assert!(
                socket.receives(Duration::from_secs(1), |got| got == wanted.as_slice()),
                "{path:?}: {peer} did not receive {wanted:02x?}"
            );
        }
    });
}

#[test]
fn egress_pushes_a_tag_of_priority_0_onto_an_untagged_frame() {
    for path in PATHS {
        let frame = ethernet(station(9), station(2), 20);
        let pushed = tagged(station(9), station(2), 10, 20);
        assert_flood_delivers(path, 1, &frame, &[("q1", pushed.clone()), ("q3", pushed)]);
    }
}

#[test]
fn egress_pops_the_tag_for_an_untagged_port_and_keeps_it_for_a_tagged_one() {
    for path in PATHS {
        let frame = tagged(station(9), station(1), PCP5 | 10, 21);
        let popped = ethernet(station(9), station(1), 21);
        // On TCX the flood pops for q2 before q3: the tag comes back with its priority.
        assert_flood_delivers(path, 0, &frame, &[("q2", popped), ("q3", frame.clone())]);
    }
}

#[test]
fn egress_retag_keeps_the_priority() {
    for path in PATHS {
        // Priority-tagged (VLAN 0) on the access port: classified into VLAN 10.
        let frame = tagged(station(9), station(2), PCP5, 22);
        let retagged = tagged(station(9), station(2), PCP5 | 10, 22);
        assert_flood_delivers(
            path,
            1,
            &frame,
            &[("q1", retagged.clone()), ("q3", retagged)],
        );
    }
}

/// The counters of slot 0 and of the three ports after `frames` were switched in on `p1`.
fn counters_after(path: Path, frames: &[Vec<u8>]) -> Vec<PortStats> {
    let vlans = [
        VlanMode::Access(1),
        VlanMode::Access(1),
        VlanMode::Access(2),
    ];
    let mut counters = Vec::new();
    with_datapath(vlans, |fx| {
        let now = monotonic_ns();
        let loopback = 1;
        fx.maps
            .set_fdb(
                FdbKey {
                    mac: station(7),
                    vlan: 1,
                },
                FdbEntry::learned(loopback, now),
            )
            .expect("writing the FDB");
        fx.learn(station(3), 2, now);
        let p1 = fx.ifindex(0);
        for frame in frames {
            let verdict = match path {
                Path::Xdp => (fx.xdp(p1, frame), XDP_DROP),
                Path::Tc => (fx.tc(p1, frame), TC_ACT_SHOT),
            };
            assert_eq!(verdict.0, verdict.1, "{path:?} must drop");
        }
        counters.push(fx.maps.port_stats(0).expect("reading counters"));
        counters.extend((0..3).map(|port| fx.stats(port)));
    });
    counters
}

#[test]
fn stale_target_and_non_member_count_the_same_on_both_hooks() {
    // station(7) is learned behind an ifindex that is no port; station(3) behind p3, which is
    // not in VLAN 1.
    let frames = [
        ethernet(station(7), station(1), 23),
        ethernet(station(3), station(1), 24),
    ];
    let xdp = counters_after(Path::Xdp, &frames);
    let tc = counters_after(Path::Tc, &frames);
    assert_eq!(xdp, tc, "the same frames, the same counters");
    let p1 = &xdp[1];
    assert_eq!(p1.drops[DropReason::VlanEgress as usize], 2);
    assert_eq!(p1.total_drops(), 2);
    assert_eq!(p1.forwarded + p1.flooded, 0);
    assert_eq!(xdp[0].total_drops(), 0, "nothing charged to the stray slot");
}
