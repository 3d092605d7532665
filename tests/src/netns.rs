//! Network namespaces that a test owns, and veth pairs inside them.

use vswitch::netlink::netns::NetnsGuard;

use crate::command::run_in;

/// A network namespace created by the test and deleted, with its devices, on drop: the
/// product's [`NetnsGuard`], with what tests do in it (checked with `ip`, independently of the
/// product).
#[derive(Debug)]
pub struct Netns {
    guard: NetnsGuard,
}

impl Netns {
    /// Creates a namespace called `name` with its loopback up.
    pub fn new(name: &str) -> Self {
        let guard = NetnsGuard::create(name)
            .unwrap_or_else(|error| panic!("creating netns {name}: {error}"));
        run_in(name, &["ip", "link", "set", "lo", "up"]);
        Self { guard }
    }

    /// Takes charge of the namespace called `name`, which something else (the code under test)
    /// is about to create: it is deleted on drop, if it exists by then.
    pub fn owning(name: &str) -> Self {
        Self {
            guard: NetnsGuard::adopt(name),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        self.guard.name()
    }

    /// Creates a veth pair: `name` here and `peer_name` in `peer`, both up.
    pub fn veth_to(&self, name: &str, peer: &Netns, peer_name: &str) {
        run_in(
            self.name(),
            &[
                "ip",
                "link",
                "add",
                name,
                "type",
                "veth",
                "peer",
                "name",
                peer_name,
                "netns",
                peer.name(),
            ],
        );
        run_in(self.name(), &["ip", "link", "set", name, "up"]);
        run_in(peer.name(), &["ip", "link", "set", peer_name, "up"]);
    }

    /// Adds `cidr` to interface `ifname` in this namespace.
    pub fn address(&self, ifname: &str, cidr: &str) {
        run_in(self.name(), &["ip", "addr", "add", cidr, "dev", ifname]);
    }

    /// The MAC address of `ifname` in this namespace, as `aa:bb:cc:dd:ee:ff`.
    pub fn mac(&self, ifname: &str) -> String {
        self.link(ifname)["address"]
            .as_str()
            .expect("a link has an address")
            .to_string()
    }

    /// The MTU of `ifname` in this namespace.
    pub fn mtu(&self, ifname: &str) -> u64 {
        self.link(ifname)["mtu"]
            .as_u64()
            .expect("a link has an MTU")
    }

    /// What `ip -j link show IFNAME` says about `ifname` in this namespace.
    fn link(&self, ifname: &str) -> serde_json::Value {
        let json = run_in(self.name(), &["ip", "-j", "link", "show", ifname]);
        let mut links: serde_json::Value = serde_json::from_str(&json).expect("ip -j prints JSON");
        links[0].take()
    }

    /// Names of the interfaces in this namespace.
    pub fn links(&self) -> Vec<String> {
        let json = run_in(self.name(), &["ip", "-j", "link", "show"]);
        let links: serde_json::Value = serde_json::from_str(&json).expect("ip -j prints JSON");
        links
            .as_array()
            .expect("an array of links")
            .iter()
            .filter_map(|link| link["ifname"].as_str().map(str::to_string))
            .collect()
    }
}
