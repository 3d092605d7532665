//! A switch namespace with host namespaces around it, one switch port per host.

use crate::{names, netns::Netns, switch::Switch};

/// The `[switch]` table every lab config starts with.
pub const SWITCH_TABLE: &str = "[switch]\nageing_secs = 300\n";

/// A switch namespace and host namespaces, one port name per host. The hosts are created by
/// the test; the switch creates the veths (its end named after the port, the host's `eth0`).
#[derive(Debug)]
pub struct Lab {
    /// The host namespaces.
    pub hosts: Vec<Netns>,
    /// The switch-side interface name of each host's port.
    pub ports: Vec<String>,
    /// The namespace the switch runs in.
    pub switch_ns: Netns,
}

impl Lab {
    /// `count` hosts and a switch namespace, all with unique names.
    pub fn new(count: usize) -> Self {
        Self::with_hosts(count, "", Netns::new)
    }

    /// Like [`Lab::new`], with `tag` in every name (after the owner's unique prefix), so that a
    /// suite's namespaces and interfaces are told apart from others' at a glance.
    pub fn tagged(count: usize, tag: &str) -> Self {
        Self::with_hosts(count, tag, Netns::new)
    }

    /// Like [`Lab::new`], but the host namespaces are left for the switch to create (from its
    /// ports' `netns`); each is still deleted when the lab is dropped.
    pub fn with_hosts_by_switch(count: usize) -> Self {
        Self::with_hosts(count, "", Netns::owning)
    }

    fn with_hosts(count: usize, tag: &str, host: impl Fn(&str) -> Netns) -> Self {
        Self {
            hosts: (0..count)
                .map(|_| host(&names::unique(&format!("{tag}h"))))
                .collect(),
            ports: (0..count)
                .map(|_| names::unique(&format!("{tag}p")))
                .collect(),
            switch_ns: Netns::new(&names::unique(&format!("{tag}s"))),
        }
    }

    /// The IPv4 address of host `host` (in 10.77.0.0/24).
    pub fn address(host: usize) -> String {
        format!("10.77.0.{}", host + 1)
    }

    /// The `[[port]]` table of host `host`'s port, an access port of `vlan`.
    pub fn port_table(&self, host: usize, vlan: u16) -> String {
        format!(
            "\n[[port]]\nname = \"{}\"\nnetns = \"{}\"\naddress = [\"{}/24\"]\nvlan = {vlan}\n",
            self.ports[host],
            self.hosts[host].name(),
            Self::address(host),
        )
    }

    /// A config with a port for each of `hosts`, each an access port of the VLAN paired with it.
    pub fn config_of(&self, hosts: &[(usize, u16)]) -> String {
        let mut config = String::from(SWITCH_TABLE);
        for &(host, vlan) in hosts {
            config.push_str(&self.port_table(host, vlan));
        }
        config
    }

    /// A config with one port per host; `vlan_of` picks each port's access VLAN.
    pub fn config(&self, vlan_of: impl Fn(usize) -> u16) -> String {
        let hosts: Vec<(usize, u16)> = (0..self.hosts.len())
            .map(|host| (host, vlan_of(host)))
            .collect();
        self.config_of(&hosts)
    }

    /// A config where the last host sits on a trunk carrying `trunk` tagged (and native VLAN 1
    /// untagged), and the others are access ports of `vlan_of`.
    pub fn trunk_config(&self, vlan_of: impl Fn(usize) -> u16, trunk: &str) -> String {
        let last = self.hosts.len() - 1;
        let mut config = self.config(|host| if host == last { 1 } else { vlan_of(host) });
        let access_line = "vlan = 1\n";
        let at = config
            .rfind(access_line)
            .expect("the last port has a VLAN line");
        config.replace_range(
            at..at + access_line.len(),
            &format!("trunk = {trunk}\nnative_vlan = 1\n"),
        );
        config
    }

    /// Starts a switch with every host on VLAN 1.
    pub fn start(&self) -> Switch {
        Switch::start(&self.switch_ns, &self.config(|_| 1))
    }

    /// The port the switch's FDB has `mac` on, if any.
    pub fn fdb_port_of(switch: &Switch, mac: &str) -> Option<String> {
        switch
            .rows(&["fdb", "show"])
            .iter()
            .find(|entry| entry["mac"] == mac)
            .map(|entry| entry["port"].as_str().expect("port name").to_string())
    }
}
