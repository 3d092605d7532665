//! Simulated hosts joined by an underlay, for VXLAN tests: each host is a namespace with one
//! underlay interface `ul0` plugged into a Linux bridge (the "network" between hosts, in a
//! namespace of its own), and one endpoint namespace behind its VTEP (`eth0`, address
//! 192.168.10.N/24). A host's VTEP is either the Linux kernel's vxlan device in a Linux bridge
//! (the reference peer) or a vswitch instance running in the host namespace.

use crate::{command::run_in, names, netns::Netns, switch::Switch};

/// The VNI every test overlay uses, carried in switch VLAN 10.
pub const VNI: u32 = 100;

/// The underlay's address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 underlay, 10.99.0.0/24.
    V4,
    /// IPv6 underlay, fd99::/64.
    V6,
}

impl Family {
    /// The underlay address of host `n` (from 1).
    pub fn vtep(self, n: usize) -> String {
        match self {
            Self::V4 => format!("10.99.0.{n}"),
            Self::V6 => format!("fd99::{n}"),
        }
    }

    fn cidr(self, n: usize) -> String {
        match self {
            Self::V4 => format!("{}/24", self.vtep(n)),
            Self::V6 => format!("{}/64", self.vtep(n)),
        }
    }

    /// Bytes of outer headers in front of an inner frame.
    pub const fn overhead(self) -> u32 {
        match self {
            Self::V4 => 50,
            Self::V6 => 70,
        }
    }
}

/// One simulated host: its namespace, and the endpoint namespace behind its VTEP.
#[derive(Debug)]
pub struct Host {
    /// The vswitch instance, for a vswitch VTEP (first, so that it stops before its
    /// namespaces go).
    pub switch: Option<Switch>,
    /// 1-based host number: its underlay address and endpoint address end in it.
    pub n: usize,
    /// The host's namespace (underlay `ul0`, VTEP).
    pub ns: Netns,
    /// The endpoint behind the VTEP (`eth0`).
    pub endpoint: Netns,
}

impl Host {
    /// The endpoint's overlay address.
    pub fn address(&self) -> String {
        format!("192.168.10.{}", self.n)
    }

    /// The endpoint's MAC address.
    pub fn mac(&self) -> String {
        self.endpoint.mac("eth0")
    }

    /// The vswitch instance of a vswitch VTEP.
    pub fn switch(&self) -> &Switch {
        self.switch.as_ref().expect("a vswitch host")
    }
}

/// Hosts on one underlay segment. Dropping it removes every namespace (and stops the
/// switches first, as fields drop in order).
#[derive(Debug)]
pub struct Overlay {
    /// The hosts, host `n` at index `n - 1`.
    pub hosts: Vec<Host>,
    /// The underlay family.
    pub family: Family,
    /// The underlay network: a bridge `br0` with one port per host.
    pub network: Netns,
}

impl Overlay {
    /// `count` hosts with their underlay wired and addressed, no VTEP yet.
    pub fn new(family: Family, count: usize) -> Self {
        Self::with_mtu(family, count, 1500)
    }

    /// `count` hosts whose underlay has MTU `mtu`.
    pub fn with_mtu(family: Family, count: usize, mtu: u32) -> Self {
        Self::build(family, count, mtu, "")
    }

    /// `count` hosts whose namespaces' tags start with `prefix` (a suite's own prefix).
    pub fn with_prefix(family: Family, count: usize, prefix: &str) -> Self {
        Self::build(family, count, 1500, prefix)
    }

    fn build(family: Family, count: usize, mtu: u32, prefix: &str) -> Self {
        let mtu = mtu.to_string();
        let network = Netns::new(&names::unique(&format!("{prefix}un")));
        run_in(
            network.name(),
            &["ip", "link", "add", "br0", "type", "bridge"],
        );
        run_in(network.name(), &["ip", "link", "set", "br0", "up"]);
        let mut hosts = Vec::new();
        for n in 1..=count {
            let ns = Netns::new(&names::unique(&format!("{prefix}h{n}")));
            let endpoint = Netns::new(&names::unique(&format!("{prefix}e{n}")));
            let port = format!("p{n}");
            ns.veth_to("ul0", &network, &port);
            run_in(network.name(), &["ip", "link", "set", &port, "mtu", &mtu]);
            run_in(ns.name(), &["ip", "link", "set", "ul0", "mtu", &mtu]);
            run_in(
                network.name(),
                &["ip", "link", "set", &port, "master", "br0"],
            );
            let mut address = vec!["ip", "addr", "add"];
            let cidr = family.cidr(n);
            address.extend([cidr.as_str(), "dev", "ul0"]);
            if family == Family::V6 {
                address.push("nodad");
            }
            run_in(ns.name(), &address);
            hosts.push(Host {
                n,
                ns,
                endpoint,
                switch: None,
            });
        }
        Self {
            hosts,
            family,
            network,
        }
    }

    /// Makes host `n` a VTEP with the Linux kernel's vxlan device `vx0` in a bridge, flooding
    /// to the other hosts (and accepting zero UDP checksums over IPv6, as RFC 6935 allows).
    pub fn kernel_vtep(&mut self, n: usize) {
        let family = self.family;
        let others: Vec<String> = self
            .hosts
            .iter()
            .filter(|host| host.n != n)
            .map(|host| family.vtep(host.n))
            .collect();
        let host = &self.hosts[n - 1];
        let ns = host.ns.name();
        let local = family.vtep(n);
        let id = VNI.to_string();
        let mut add = vec![
            "ip", "link", "add", "vx0", "type", "vxlan", "id", &id, "local", &local, "dstport",
            "4789", "dev", "ul0",
        ];
        if family == Family::V6 {
            add.push("udp6zerocsumrx");
        }
        run_in(ns, &add);
        run_in(ns, &["ip", "link", "add", "br0", "type", "bridge"]);
        run_in(ns, &["ip", "link", "set", "vx0", "master", "br0"]);
        host.endpoint.veth_to("eth0", &host.ns, "ep0");
        run_in(ns, &["ip", "link", "set", "ep0", "master", "br0"]);
        for link in ["vx0", "br0"] {
            run_in(ns, &["ip", "link", "set", link, "up"]);
        }
        for remote in &others {
            run_in(
                ns,
                &[
                    "bridge",
                    "fdb",
                    "append",
                    "00:00:00:00:00:00",
                    "dev",
                    "vx0",
                    "dst",
                    remote,
                ],
            );
        }
        let underlay: serde_json::Value =
            serde_json::from_str(&run_in(ns, &["ip", "-j", "link", "show", "ul0"]))
                .expect("ip -j prints JSON");
        let underlay_mtu = underlay[0]["mtu"].as_u64().expect("a link has an MTU") as u32;
        let mtu = (underlay_mtu - family.overhead()).to_string();
        run_in(
            host.endpoint.name(),
            &["ip", "link", "set", "eth0", "mtu", &mtu],
        );
        run_in(ns, &["ip", "link", "set", "ep0", "mtu", &mtu]);
        let address = format!("{}/24", host.address());
        host.endpoint.address("eth0", &address);
    }

    /// The config of a vswitch VTEP on host `n`: one port towards its endpoint in VLAN 10,
    /// carried by VNI 100 to the other hosts. `extra` is appended to the `[[vxlan]]` section.
    pub fn vswitch_config(&self, n: usize, extra: &str) -> String {
        let family = self.family;
        let host = &self.hosts[n - 1];
        let remotes: Vec<String> = self
            .hosts
            .iter()
            .filter(|other| other.n != n)
            .map(|other| format!("\"{}\"", family.vtep(other.n)))
            .collect();
        format!(
            "[[port]]\nname = \"vp{n}\"\nnetns = \"{endpoint}\"\naddress = [\"{address}/24\"]\n\
             vlan = 10\n\n[[vxlan]]\nvni = {VNI}\nvlan = 10\nlocal = \"{local}\"\n\
             remotes = [{remotes}]\nunderlay = \"ul0\"\n{extra}",
            endpoint = host.endpoint.name(),
            address = host.address(),
            local = family.vtep(n),
            remotes = remotes.join(", "),
        )
    }

    /// Makes host `n` a VTEP with vswitch running in its namespace.
    pub fn vswitch_vtep(&mut self, n: usize) {
        self.vswitch_vtep_with(n, Switch::start);
    }

    /// Makes host `n` a VTEP with vswitch, started by `start` (for example
    /// [`Switch::start_pinned`], for restarts that keep the datapath).
    pub fn vswitch_vtep_with(&mut self, n: usize, start: impl FnOnce(&Netns, &str) -> Switch) {
        let config = self.vswitch_config(n, "");
        let host = &mut self.hosts[n - 1];
        host.switch = Some(start(&host.ns, &config));
    }

    /// Host `n`.
    pub fn host(&self, n: usize) -> &Host {
        &self.hosts[n - 1]
    }
}
