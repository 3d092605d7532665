//! The peers under test and the namespaces each one is measured in: a generator namespace, one
//! or more sink namespaces, and a core namespace that holds the bridge, the macvlan lower
//! device, the XDP forwarder or the vswitch instance.

use std::net::Ipv4Addr;

use super::{
    link,
    trafficgen::{Program, TrafficGen},
};
use crate::{
    command::run_in,
    frames::{Mac, ethernet, tagged},
    names,
    netns::Netns,
    raw::RawSocket,
    switch::Switch,
};

/// Every endpoint's interface.
pub const IFNAME: &str = "eth0";
/// The VLAN of the vswitch VLAN variant: access on the generator, trunk on the sinks.
const VLAN: u16 = 10;

/// What is benchmarked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Peer {
    /// Linux bridge with bridge netfilter on (the kernel's default).
    BridgeNf,
    /// Linux bridge with bridge netfilter off.
    Bridge,
    /// macvlan in bridge mode.
    Macvlan,
    /// A plain XDP redirect between two veths: the limit.
    XdpRedirect,
    /// A plain devmap broadcast to every sink, no egress program: the limit of a flood.
    XdpBroadcast,
    /// A plain TCX `bpf_redirect_peer` between two veths: the limit of the container path.
    TcxRedirectPeer,
    /// vswitch in its default configuration, learning on.
    Vswitch,
    /// vswitch with the generator on an access port and the sinks on trunks (tag push).
    VswitchVlan,
    /// vswitch's MAC dispatch (`[[macvlan]]`, bridge mode), on macvlan's topology.
    VswitchMacvlan,
}

impl Peer {
    /// Every peer, in report order.
    pub const ALL: [Self; 9] = [
        Self::BridgeNf,
        Self::Bridge,
        Self::Macvlan,
        Self::XdpRedirect,
        Self::XdpBroadcast,
        Self::TcxRedirectPeer,
        Self::Vswitch,
        Self::VswitchVlan,
        Self::VswitchMacvlan,
    ];

    /// Name in tables and the chart.
    pub fn label(self) -> &'static str {
        match self {
            Self::BridgeNf => "bridge (nf on)",
            Self::Bridge => "bridge (nf off)",
            Self::Macvlan => "macvlan bridge",
            Self::XdpRedirect => "XDP redirect",
            Self::XdpBroadcast => "XDP broadcast",
            Self::TcxRedirectPeer => "TCX redirect_peer",
            Self::Vswitch => "vswitch",
            Self::VswitchVlan => "vswitch VLAN",
            Self::VswitchMacvlan => "vswitch macvlan",
        }
    }

    /// Key in the JSON report.
    pub fn key(self) -> &'static str {
        match self {
            Self::BridgeNf => "bridge_nf",
            Self::Bridge => "bridge",
            Self::Macvlan => "macvlan",
            Self::XdpRedirect => "xdp_redirect",
            Self::XdpBroadcast => "xdp_broadcast",
            Self::TcxRedirectPeer => "tcx_redirect_peer",
            Self::Vswitch => "vswitch",
            Self::VswitchVlan => "vswitch_vlan",
            Self::VswitchMacvlan => "vswitch_macvlan",
        }
    }

    /// Whether the peer can carry IP between the endpoints (ping, TCP). The VLAN variant's
    /// sinks receive tagged frames, and this kernel has no 8021q to untag them.
    pub fn carries_ip(self) -> bool {
        !matches!(self, Self::VswitchVlan | Self::XdpBroadcast)
    }

    /// Whether the peer can deliver to more than one sink.
    pub fn floods(self) -> bool {
        !matches!(self, Self::XdpRedirect | Self::TcxRedirectPeer)
    }

    /// Whether the peer is measured with XDP-sourced frames too (the plain TCX forwarder is
    /// the container path's limit, stack-sourced only).
    pub fn takes_xdp(self) -> bool {
        self != Self::TcxRedirectPeer
    }

    /// Whether the peer delivers unicast to one sink (the plain broadcast floods everything).
    pub fn unicast(self) -> bool {
        self != Self::XdpBroadcast
    }
}

/// Where the measured frames come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// XDP frames from the live-frames generator; sinks drop at XDP. vswitch uses XDP ports.
    Xdp,
    /// Frames from the generator namespace's stack or an AF_PACKET socket; sinks drop the
    /// generated frames at tc ingress and pass the rest (ping, TCP) to their stack. vswitch
    /// uses its default TCX container ports.
    Stack,
}

/// One end: a namespace with `eth0`.
#[derive(Debug)]
pub struct Endpoint {
    /// The namespace.
    pub netns: Netns,
    /// Its address, also on `eth0`.
    pub ip: Ipv4Addr,
    /// The MAC address of its `eth0`, known once built.
    pub mac: Mac,
}

impl Endpoint {
    fn new(tag: &str, host: u8) -> Self {
        Self {
            netns: Netns::new(&names::bench(tag)),
            ip: Ipv4Addr::new(10, 77, 0, host),
            mac: [0; 6],
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        self.netns.name()
    }
}

/// A built peer between a generator and its sinks. Dropping it stops the switch, detaches the
/// programs and deletes every namespace.
#[derive(Debug)]
pub struct Topology {
    /// What is measured.
    pub peer: Peer,
    switch: Option<Switch>,
    /// The generator and the stubs and sinks around the peer.
    pub trafficgen: TrafficGen,
    /// The sending end.
    pub generator: Endpoint,
    /// The receiving ends.
    pub sinks: Vec<Endpoint>,
    core: Netns,
}

impl Topology {
    /// Builds `peer` for frames from `source`, with `sinks` receiving ends.
    pub fn build(peer: Peer, source: Source, sinks: usize) -> Self {
        let mut topology = Self {
            peer,
            switch: None,
            trafficgen: TrafficGen::load(),
            generator: Endpoint::new("g", 1),
            sinks: (0..sinks)
                .map(|n| Endpoint::new("s", 2 + n as u8))
                .collect(),
            core: Netns::new(&names::bench("c")),
        };
        match peer {
            Peer::BridgeNf | Peer::Bridge => topology.bridge(source),
            Peer::Macvlan | Peer::VswitchMacvlan => topology.macvlan(source),
            Peer::XdpRedirect => topology.xdp_redirect(source),
            Peer::XdpBroadcast => topology.xdp_broadcast(source),
            Peer::TcxRedirectPeer => topology.tcx_redirect_peer(source),
            Peer::Vswitch | Peer::VswitchVlan => topology.vswitch(source),
        }
        let addressed_by_switch =
            matches!(peer, Peer::Vswitch | Peer::VswitchVlan) && source == Source::Stack;
        for end in topology.ends_mut() {
            if !addressed_by_switch {
                end.netns.address(IFNAME, &format!("{}/24", end.ip));
            }
            end.mac = link::mac(end.name(), IFNAME);
        }
        let sinks: Vec<String> = topology
            .sinks
            .iter()
            .map(|sink| sink.name().to_string())
            .collect();
        for (n, sink) in sinks.into_iter().enumerate() {
            match source {
                // vswitch's children carry the pass stub the redirects need: the sink drops
                // at the child's XDP hook, as the generic-XDP sink on the driver's children.
                Source::Xdp if peer == Peer::VswitchMacvlan => {
                    let switch = topology.switch.as_ref().expect("vswitch's dispatch");
                    let child = format!("m{n}");
                    let pin = vswitch::state::pin_dir(switch.name())
                        .join("links/pass")
                        .join(child);
                    topology.trafficgen.replace_on_link(Program::Drop, &pin);
                }
                Source::Xdp => {
                    let generic = peer == Peer::Macvlan;
                    topology
                        .trafficgen
                        .attach(Program::Drop, &sink, IFNAME, generic);
                }
                Source::Stack => topology.trafficgen.attach_sink(&sink, IFNAME),
            }
        }
        topology.teach();
        topology
    }

    /// The running vswitch instance, for the peers that are one.
    pub fn switch(&self) -> Option<&Switch> {
        self.switch.as_ref()
    }

    /// The namespace that holds the peer.
    pub fn core(&self) -> &Netns {
        &self.core
    }

    /// The generator, then the sinks.
    pub fn ends(&self) -> impl Iterator<Item = &Endpoint> {
        std::iter::once(&self.generator).chain(&self.sinks)
    }

    fn ends_mut(&mut self) -> impl Iterator<Item = &mut Endpoint> {
        std::iter::once(&mut self.generator).chain(&mut self.sinks)
    }

    /// A veth `p<n>` in the core namespace for each end, whose peer is the end's `eth0`.
    fn veths(&self) -> Vec<String> {
        self.ends()
            .enumerate()
            .map(|(n, end)| {
                let name = format!("p{n}");
                self.core.veth_to(&name, &end.netns, IFNAME);
                name
            })
            .collect()
    }

    fn bridge(&mut self, source: Source) {
        let core = self.core.name().to_string();
        let nf = if self.peer == Peer::BridgeNf {
            "1"
        } else {
            "0"
        };
        run_in(&core, &["ip", "link", "add", "br0", "type", "bridge"]);
        if super::environment::br_netfilter_in(&core) {
            for table in ["iptables", "ip6tables", "arptables"] {
                let key = format!("net.bridge.bridge-nf-call-{table}={nf}");
                run_in(&core, &["sysctl", "-q", "-w", &key]);
            }
        }
        run_in(
            &core,
            &[
                "ip",
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "nf_call_iptables",
                nf,
                "nf_call_ip6tables",
                nf,
                "nf_call_arptables",
                nf,
            ],
        );
        run_in(&core, &["ip", "link", "set", "br0", "up"]);
        for port in self.veths() {
            run_in(&core, &["ip", "link", "set", &port, "master", "br0"]);
        }
        if source == Source::Xdp {
            self.trafficgen.attach(Program::Pass, &core, "p0", false);
        }
    }

    /// macvlan's topology, built with the kernel's driver or with vswitch's dispatch.
    fn macvlan(&mut self, source: Source) {
        let core = self.core.name().to_string();
        let vswitch = self.peer == Peer::VswitchMacvlan;
        let children: Vec<&Endpoint> = match source {
            // Frames from outside: the generator's veth peer is the lower device (vswitch puts
            // its dispatch program there instead of the pass stub).
            Source::Xdp => {
                self.core.veth_to("lw", &self.generator.netns, IFNAME);
                if !vswitch {
                    self.trafficgen.attach(Program::Pass, &core, "lw", false);
                }
                self.sinks.iter().collect()
            }
            // Child to child.
            Source::Stack => {
                self.core.veth_to("lw", &self.core, "lx");
                self.ends().collect()
            }
        };
        if vswitch {
            let children: Vec<String> = children
                .iter()
                .enumerate()
                .map(|(n, end)| format!("{{ name = \"m{n}\", netns = \"{}\" }}", end.name()))
                .collect();
            let config = format!(
                "[[macvlan]]\nparent = \"lw\"\nmode = \"bridge\"\nchildren = [{}]\n",
                children.join(", ")
            );
            // Pinned links, so that the benchmark can put its sink on the children's stubs.
            self.switch = Some(Switch::start_pinned(&self.core, &config, &[]));
            return;
        }
        for (n, end) in children.into_iter().enumerate() {
            let child = format!("m{n}");
            run_in(
                &core,
                &[
                    "ip", "link", "add", "link", "lw", "name", &child, "type", "macvlan", "mode",
                    "bridge",
                ],
            );
            run_in(&core, &["ip", "link", "set", &child, "netns", end.name()]);
            run_in(
                end.name(),
                &["ip", "link", "set", &child, "name", IFNAME, "up"],
            );
        }
    }

    fn xdp_redirect(&mut self, source: Source) {
        assert_eq!(self.sinks.len(), 1, "the plain forwarder joins two veths");
        let core = self.core.name().to_string();
        let ports = self.veths();
        let [a, b] = [&ports[0], &ports[1]].map(|port| link::ifindex(&core, port));
        self.trafficgen.forward(&core, a, b);
        self.trafficgen.forward(&core, b, a);
        for port in &ports {
            self.trafficgen
                .attach(Program::Redirect, &core, port, false);
        }
        if source == Source::Stack {
            // Native redirects into a veth are delivered only if its peer runs XDP.
            let ends: Vec<String> = self.ends().map(|end| end.name().to_string()).collect();
            for end in ends {
                self.trafficgen.attach(Program::Pass, &end, IFNAME, false);
            }
        }
    }

    /// The limit of the container path: each end's frames go by `bpf_redirect_peer` from its
    /// veth's ingress straight to the other end's `eth0`, with no decision.
    fn tcx_redirect_peer(&mut self, source: Source) {
        assert_eq!(
            source,
            Source::Stack,
            "the plain TCX forwarder takes stack-sourced frames only"
        );
        assert_eq!(self.sinks.len(), 1, "the plain forwarder joins two veths");
        let core = self.core.name().to_string();
        let ports = self.veths();
        let [a, b] = [&ports[0], &ports[1]].map(|port| link::ifindex(&core, port));
        self.trafficgen.forward_to_peer(a, b);
        self.trafficgen.forward_to_peer(b, a);
        for port in &ports {
            self.trafficgen.attach_redirect_peer(&core, port);
        }
    }

    /// The limit of an XDP flood: a devmap broadcast to every sink's veth, with no egress
    /// program and no decision.
    fn xdp_broadcast(&mut self, source: Source) {
        assert_eq!(
            source,
            Source::Xdp,
            "the plain broadcast takes XDP frames only"
        );
        let core = self.core.name().to_string();
        let ports = self.veths();
        for port in &ports[1..] {
            self.trafficgen
                .broadcast_to(&core, link::ifindex(&core, port));
        }
        self.trafficgen
            .attach(Program::Broadcast, &core, &ports[0], false);
    }

    fn vswitch(&mut self, source: Source) {
        let vlan = self.peer == Peer::VswitchVlan;
        let mut config = String::new();
        let names: Vec<String> = match source {
            Source::Xdp => self.veths(),
            Source::Stack => (0..=self.sinks.len()).map(|n| format!("p{n}")).collect(),
        };
        for (n, (name, end)) in names.iter().zip(self.ends()).enumerate() {
            config.push_str(&format!("[[port]]\nname = \"{name}\"\n"));
            match source {
                Source::Xdp => config.push_str("existing = true\n"),
                Source::Stack => config.push_str(&format!(
                    "netns = \"{}\"\naddress = [\"{}/24\"]\n",
                    end.name(),
                    end.ip
                )),
            }
            if vlan {
                config.push_str(&if n == 0 {
                    format!("vlan = {VLAN}\n")
                } else {
                    format!("trunk = [{VLAN}]\n")
                });
            }
        }
        self.switch = Some(Switch::start(&self.core, &config));
    }

    /// Makes the generator a stack-sourced sink too, for the fully meshed rows: the tc sink
    /// at its `eth0` drops the other ends' generated frames once they are counted.
    pub fn sink_at_generator(&mut self) {
        let generator = self.generator.name().to_string();
        self.trafficgen.attach_sink(&generator, IFNAME);
    }

    /// Lets a learning peer learn every end: each sink sends one frame to the generator, then
    /// the generator one to the first sink.
    pub fn teach(&self) {
        for sink in &self.sinks {
            let frame = if self.peer == Peer::VswitchVlan {
                tagged(self.generator.mac, sink.mac, VLAN, 0)
            } else {
                ethernet(self.generator.mac, sink.mac, 0)
            };
            RawSocket::open(sink.name(), IFNAME).send(&frame);
        }
        let generator = &self.generator;
        let frame = ethernet(self.sinks[0].mac, generator.mac, 0);
        RawSocket::open(generator.name(), IFNAME).send(&frame);
    }
}
