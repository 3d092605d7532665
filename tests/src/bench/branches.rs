//! Per-branch cost of the datapath: `BPF_PROG_TEST_RUN` nanoseconds per frame for each decision,
//! on the real agent's programs and maps.

use std::path::Path;

use aya::programs::{SchedClassifier, TestRun as _, TestRunOptions, Xdp};
use vswitch::{
    agent::{Switch, monotonic_ns, vtep},
    config::Config,
    netlink::netns,
};
use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    program_names,
    vxlan::NextHop,
};

use super::{link, scale};
use crate::{
    frames::{Mac, VxlanOuter, ethernet, ipv4_udp, station, tagged},
    names,
    netns::Netns,
};

/// `sizeof(struct __sk_buff)`, and the offset of its `ifindex` field.
const SKB_CTX_LEN: usize = 192;
const SKB_IFINDEX_OFFSET: usize = 40;
const VLAN: u16 = 10;

/// A datapath branch and the hook it is measured on.
#[derive(Clone, Copy, Debug)]
pub struct Branch {
    /// Name in the report.
    pub name: &'static str,
    hook: Hook,
    /// Index of the ingress port: 0 and 1 are access ports of VLAN 10, 2 is a trunk, 3 the
    /// VXLAN underlay.
    ingress: usize,
    frame: fn() -> Vec<u8>,
    /// Whether the branch changes the frame for good (encapsulation; a tag pushed or popped,
    /// also on the way to one port of a flood), so that a repeated test run, which reuses one
    /// skb, would measure another frame after the first: a frame whose tag its ingress port
    /// refuses, that is, the cost of a drop.
    reshapes: bool,
}

#[derive(Clone, Copy, Debug)]
enum Hook {
    Xdp,
    Tc,
    /// The decapsulation program of the underlay.
    Underlay,
}

/// The local and the remote VTEP of the VXLAN branches (VNI 100 carries VLAN 10).
const LOCAL_VTEP: [u8; 4] = [10, 98, 0, 1];
const REMOTE_VTEP: [u8; 4] = [10, 98, 0, 2];
/// A station learned behind the remote VTEP.
const REMOTE: Mac = station(5);

/// A station learned behind port 1 (access).
const ON_ACCESS: Mac = station(2);
/// A station learned behind port 2 (trunk).
const ON_TRUNK: Mac = station(3);
/// A station nobody has seen.
const UNKNOWN: Mac = station(9);

/// The branches measured.
pub const BRANCHES: [Branch; 8] = [
    Branch {
        // A repeated run is one flow: after the first frame, the flow cache's decision.
        name: "XDP learned unicast, a flow's next frames (flow cache)",
        hook: Hook::Xdp,
        ingress: 0,
        frame: || ethernet(ON_ACCESS, station(1), 0),
        reshapes: false,
    },
    Branch {
        name: "XDP flood (2 ports)",
        hook: Hook::Xdp,
        ingress: 0,
        frame: || ethernet(UNKNOWN, station(1), 0),
        reshapes: false,
    },
    Branch {
        name: "TCX learned unicast",
        hook: Hook::Tc,
        ingress: 0,
        frame: || ethernet(ON_ACCESS, station(1), 0),
        reshapes: false,
    },
    Branch {
        name: "TCX flood (2 clones)",
        hook: Hook::Tc,
        ingress: 0,
        frame: || ethernet(UNKNOWN, station(1), 0),
        reshapes: true,
    },
    Branch {
        name: "TCX VLAN push",
        hook: Hook::Tc,
        ingress: 0,
        frame: || ethernet(ON_TRUNK, station(1), 0),
        reshapes: true,
    },
    Branch {
        name: "TCX VLAN pop",
        hook: Hook::Tc,
        ingress: 2,
        frame: || tagged(ON_ACCESS, station(4), VLAN, 0),
        reshapes: true,
    },
    Branch {
        name: "TCX VXLAN encapsulation (IPv4)",
        hook: Hook::Tc,
        ingress: 0,
        frame: || ipv4_udp(REMOTE, station(1), 0),
        reshapes: true,
    },
    Branch {
        name: "TCX VXLAN decapsulation (IPv4)",
        hook: Hook::Underlay,
        ingress: 3,
        frame: || {
            let mut src = [0; 16];
            src[..4].copy_from_slice(&REMOTE_VTEP);
            let mut dst = [0; 16];
            dst[..4].copy_from_slice(&LOCAL_VTEP);
            VxlanOuter {
                src,
                dst,
                v6: false,
                dstport: 4789,
                header: VxlanOuter::header(100),
            }
            .wrap(&ipv4_udp(ON_ACCESS, station(6), 0))
        },
        reshapes: true,
    },
];

/// Runs every branch `repeat` times on a fresh in-process agent with three container ports and
/// a VXLAN tunnel; returns nanoseconds per frame in [`BRANCHES`] order.
pub fn measure(repeat: u32) -> Vec<f64> {
    let core = Netns::new(&names::bench("b"));
    let ends: Vec<Netns> = (0..3).map(|_| Netns::new(&names::bench("e"))).collect();
    let remote = Netns::new(&names::bench("r"));
    core.veth_to("ul0", &remote, "ul0");
    let [a, b, c, d] = LOCAL_VTEP;
    core.address("ul0", &format!("{a}.{b}.{c}.{d}/24"));
    let [a, b, c, d] = REMOTE_VTEP;
    let remote_ip = format!("{a}.{b}.{c}.{d}");
    let mut text: String = ends
        .iter()
        .enumerate()
        .map(|(n, end)| {
            let vlan = if n == 2 {
                format!("trunk = [{VLAN}]")
            } else {
                format!("vlan = {VLAN}")
            };
            format!(
                "[[port]]\nname = \"p{n}\"\nnetns = \"{}\"\n{vlan}\n",
                end.name()
            )
        })
        .collect();
    let [a, b, c, d] = LOCAL_VTEP;
    text.push_str(&format!(
        "[[vxlan]]\nvni = 100\nvlan = {VLAN}\nlocal = \"{a}.{b}.{c}.{d}\"\nunderlay = \"ul0\"\n"
    ));
    let mut config = Config::parse(Path::new("branches.toml"), &text).expect("a valid config");
    let underlay = link::ifindex(core.name(), "ul0");
    let remote_vtep = vtep(remote_ip.parse().expect("an address"));
    config.name = names::bench("sw");
    netns::run_in(core.name(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut switch = runtime
            .block_on(Switch::start(&config, 0))
            .expect("starting the agent");
        let mut ifindex: Vec<u32> = switch.ports().iter().map(|port| port.ifindex).collect();
        ifindex.push(underlay);
        let mut maps = scale::maps_named(switch.name());
        // What the agent resolves from the neighbour table, written directly: the remote VTEP
        // has no host behind it here.
        maps.set_next_hop(
            remote_vtep,
            NextHop {
                ifindex: underlay,
                mtu: 1500,
                dst_mac: station(0xbb),
                src_mac: station(0xaa),
                _pad: 0,
            },
        )
        .expect("writing the next hop");
        maps.set_fdb(
            FdbKey {
                mac: REMOTE,
                vlan: VLAN,
            },
            FdbEntry::fixed(Location {
                ifindex: underlay,
                remote: remote_vtep,
            }),
        )
        .expect("teaching the FDB");
        for (mac, port) in [(ON_ACCESS, 1), (ON_TRUNK, 2)] {
            maps.set_fdb(
                FdbKey { mac, vlan: VLAN },
                FdbEntry::learned(Location::port(ifindex[port]), monotonic_ns()),
            )
            .expect("teaching the FDB");
        }
        let costs = BRANCHES
            .iter()
            .map(|branch| run(&mut switch, branch, ifindex[branch.ingress], repeat))
            .collect();
        runtime.block_on(switch.stop(false));
        costs
    })
    .expect("entering the namespace")
}

fn run(switch: &mut Switch, branch: &Branch, ingress: u32, repeat: u32) -> f64 {
    if branch.reshapes {
        // One run at a time, each on the original frame.
        let runs = (repeat / 100).max(1);
        let total: f64 = (0..runs).map(|_| once(switch, branch, ingress, 1)).sum();
        return total / f64::from(runs);
    }
    once(switch, branch, ingress, repeat)
}

fn once(switch: &mut Switch, branch: &Branch, ingress: u32, repeat: u32) -> f64 {
    let frame = (branch.frame)();
    let mut out = vec![0u8; frame.len() + 128];
    let (ctx, name) = match branch.hook {
        Hook::Xdp => {
            // struct xdp_md: data, data_end, data_meta, ingress_ifindex, ...
            let mut ctx = vec![0u8; 24];
            ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
            ctx[12..16].copy_from_slice(&ingress.to_ne_bytes());
            (ctx, program_names::XDP_INGRESS)
        }
        Hook::Tc | Hook::Underlay => {
            let mut ctx = vec![0u8; SKB_CTX_LEN];
            ctx[SKB_IFINDEX_OFFSET..SKB_IFINDEX_OFFSET + 4].copy_from_slice(&ingress.to_ne_bytes());
            let name = match branch.hook {
                Hook::Underlay => program_names::TC_UNDERLAY,
                Hook::Xdp | Hook::Tc => program_names::TC_INGRESS,
            };
            (ctx, name)
        }
    };
    let options = TestRunOptions {
        data_in: Some(&frame),
        data_out: Some(&mut out),
        ctx_in: Some(&ctx),
        repeat,
        ..TestRunOptions::default()
    };
    let program = switch
        .ebpf_mut()
        .program_mut(name)
        .expect("a datapath program");
    let result = match branch.hook {
        Hook::Xdp => <&mut Xdp>::try_from(program).map(|xdp| xdp.test_run(options)),
        Hook::Tc | Hook::Underlay => {
            <&mut SchedClassifier>::try_from(program).map(|tc| tc.test_run(options))
        }
    };
    let result = result
        .and_then(|result| result)
        .unwrap_or_else(|error| panic!("{}: {error}", branch.name));
    result.duration.as_nanos() as f64
}
