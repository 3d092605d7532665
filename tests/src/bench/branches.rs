//! Per-branch cost of the datapath: `BPF_PROG_TEST_RUN` nanoseconds per frame for each decision,
//! on the real agent's programs and maps.

use std::path::Path;

use aya::programs::{SchedClassifier, TestRun as _, TestRunOptions, Xdp};
use vswitch::{
    agent::{Switch, monotonic_ns},
    config::Config,
    netlink::netns,
};
use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    program_names,
};

use super::scale;
use crate::{
    frames::{Mac, ethernet, station, tagged},
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
    /// Index of the ingress port: 0 and 1 are access ports of VLAN 10, 2 is a trunk.
    ingress: usize,
    frame: fn() -> Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum Hook {
    Xdp,
    Tc,
}

/// A station learned behind port 1 (access).
const ON_ACCESS: Mac = station(2);
/// A station learned behind port 2 (trunk).
const ON_TRUNK: Mac = station(3);
/// A station nobody has seen.
const UNKNOWN: Mac = station(9);

/// The branches measured; VXLAN does not exist yet.
pub const BRANCHES: [Branch; 6] = [
    Branch {
        name: "XDP learned unicast",
        hook: Hook::Xdp,
        ingress: 0,
        frame: || ethernet(ON_ACCESS, station(1), 0),
    },
    Branch {
        name: "XDP flood (2 ports)",
        hook: Hook::Xdp,
        ingress: 0,
        frame: || ethernet(UNKNOWN, station(1), 0),
    },
    Branch {
        name: "TCX learned unicast",
        hook: Hook::Tc,
        ingress: 0,
        frame: || ethernet(ON_ACCESS, station(1), 0),
    },
    Branch {
        name: "TCX flood (2 clones)",
        hook: Hook::Tc,
        ingress: 0,
        frame: || ethernet(UNKNOWN, station(1), 0),
    },
    Branch {
        name: "TCX VLAN push",
        hook: Hook::Tc,
        ingress: 0,
        frame: || ethernet(ON_TRUNK, station(1), 0),
    },
    Branch {
        name: "TCX VLAN pop",
        hook: Hook::Tc,
        ingress: 2,
        frame: || tagged(ON_ACCESS, station(4), VLAN, 0),
    },
];

/// Runs every branch `repeat` times on a fresh in-process agent with three container ports;
/// returns nanoseconds per frame in [`BRANCHES`] order.
pub fn measure(repeat: u32) -> Vec<f64> {
    let core = Netns::new(&names::bench("b"));
    let ends: Vec<Netns> = (0..3).map(|_| Netns::new(&names::bench("e"))).collect();
    let text: String = ends
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
    let mut config = Config::parse(Path::new("branches.toml"), &text).expect("a valid config");
    config.name = names::bench("sw");
    netns::run_in(core.name(), || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut switch = runtime
            .block_on(Switch::start(&config, 0))
            .expect("starting the agent");
        let ifindex: Vec<u32> = switch.ports().iter().map(|port| port.ifindex).collect();
        let mut maps = scale::maps_named(switch.name());
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
    let frame = (branch.frame)();
    let mut out = vec![0u8; frame.len() + 64];
    let (ctx, name) = match branch.hook {
        Hook::Xdp => {
            // struct xdp_md: data, data_end, data_meta, ingress_ifindex, ...
            let mut ctx = vec![0u8; 24];
            ctx[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
            ctx[12..16].copy_from_slice(&ingress.to_ne_bytes());
            (ctx, program_names::XDP_INGRESS)
        }
        Hook::Tc => {
            let mut ctx = vec![0u8; SKB_CTX_LEN];
            ctx[SKB_IFINDEX_OFFSET..SKB_IFINDEX_OFFSET + 4].copy_from_slice(&ingress.to_ne_bytes());
            (ctx, program_names::TC_INGRESS)
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
        Hook::Tc => <&mut SchedClassifier>::try_from(program).map(|tc| tc.test_run(options)),
    };
    let result = result
        .and_then(|result| result)
        .unwrap_or_else(|error| panic!("{}: {error}", branch.name));
    result.duration.as_nanos() as f64
}
