//! The dispatch parity lab: one parent with children behind it, and an outside Linux bridge
//! with two stations, built either with the kernel's macvlan or ipvlan driver or with vswitch's
//! dispatch, and the reachability matrix measured on it.
//!
//! ```text
//!  child ns c1 (eth0 .1)   child ns c2 (eth0 .2)
//!            \               /
//!   host ns:  parent `par` (veth)            kernel: macvlan (ipvlan) devices on par
//!              │                             vswitch: [[macvlan]] ([[ipvlan]]) parent = "par"
//!   outside ns: `ext` ── br0 (.100, hairpin on ext or not) ── o2b ── ns out2 (eth0 .101)
//! ```

use std::{collections::BTreeMap, fmt, thread, time::Duration};

use crate::{
    command::{pings, run_in},
    frames::{self, Mac},
    names,
    netns::Netns,
    raw::RawSocket,
    switch::Switch,
};

/// The parent's MAC address (a passthru child takes it).
pub const PARENT_MAC: Mac = [0x02, 0x77, 0, 0, 0, 0xfe];
/// The outside bridge's MAC address: the one station a source-mode child accepts.
pub const OUTSIDE_MAC: Mac = [0x02, 0x77, 0, 0, 0, 0x64];
/// The second outside station's MAC address.
pub const OUTSIDE2_MAC: Mac = [0x02, 0x77, 0, 0, 0, 0x65];

/// The MAC address of child `n` (1-based).
pub const fn child_mac(n: u8) -> Mac {
    [0x02, 0x77, 0, 0, 0, n]
}

/// Which implementation the lab is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Implementation {
    /// The kernel's driver.
    Kernel,
    /// vswitch's dispatch.
    Vswitch,
}

/// One scenario: a driver and mode, and whether the outside bridge hairpins on the parent's
/// link.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// `macvlan` or `ipvlan`: the kernel's device type and the config's section.
    pub driver: &'static str,
    /// The mode, as iproute2 and the config name it.
    pub mode: &'static str,
    /// Whether the outside bridge sends frames back out of the port they came in on.
    pub hairpin: bool,
}

impl Scenario {
    /// A macvlan scenario.
    pub const fn macvlan(mode: &'static str, hairpin: bool) -> Self {
        Self {
            driver: "macvlan",
            mode,
            hairpin,
        }
    }

    /// How many children the scenario has: one in passthru mode, else two.
    pub fn children(&self) -> u8 {
        if self.mode == "passthru" { 1 } else { 2 }
    }

    /// Whether the children have the parent's MAC address rather than their own.
    pub fn shares_mac(&self) -> bool {
        self.mode == "passthru" || self.driver == "ipvlan"
    }
}

/// Reachability between the lab's stations: `from → to` for pings and broadcast frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matrix(pub BTreeMap<String, bool>);

impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (path, reached) in &self.0 {
            writeln!(f, "  {path:<28} {}", if *reached { "yes" } else { "no" })?;
        }
        Ok(())
    }
}

/// Builds `scenario` with both implementations, prints both matrices, and asserts they are
/// identical (and that the kernel's reaches something, or the lab itself is broken).
pub fn assert_parity(scenario: Scenario) {
    let kernel = Lab::build(scenario, Implementation::Kernel).matrix();
    let vswitch = Lab::build(scenario, Implementation::Vswitch).matrix();
    println!(
        "{scenario:?}\nkernel {} driver:\n{kernel}vswitch dispatch:\n{vswitch}",
        scenario.driver
    );
    assert!(
        kernel.0.values().any(|reached| *reached),
        "the kernel reference reached nothing: the lab is broken"
    );
    let differences = Matrix(
        kernel
            .0
            .iter()
            .filter(|(path, reached)| vswitch.0.get(*path) != Some(reached))
            .map(|(path, reached)| (path.clone(), *reached))
            .collect(),
    );
    assert_eq!(
        kernel, vswitch,
        "vswitch differs from the kernel (kernel's value shown):\n{differences}"
    );
}

/// A station of the lab: its namespace, interface and address.
struct Station {
    label: String,
    netns: String,
    ifname: &'static str,
    address: String,
    mac: Mac,
}

/// The lab, built for one scenario and implementation; everything is removed on drop.
pub struct Lab {
    stations: Vec<Station>,
    // Dropped in this order: the switch first (it removes the children it made), then the
    // namespaces.
    _switch: Option<Switch>,
    _children: Vec<Netns>,
    _outside2: Netns,
    _outside: Netns,
    _host: Netns,
}

impl Lab {
    /// Builds `scenario` with `implementation`.
    pub fn build(scenario: Scenario, implementation: Implementation) -> Self {
        let host = Netns::new(&names::unique("h"));
        let outside = Netns::new(&names::unique("o"));
        let outside2 = Netns::new(&names::unique("p"));
        host.veth_to("par", &outside, "ext");
        set_mac(host.name(), "par", PARENT_MAC);
        let o = outside.name();
        run_in(o, &["ip", "link", "add", "br0", "type", "bridge"]);
        set_mac(o, "br0", OUTSIDE_MAC);
        run_in(o, &["ip", "link", "set", "ext", "master", "br0"]);
        let hairpin = if scenario.hairpin { "on" } else { "off" };
        run_in(
            o,
            &["bridge", "link", "set", "dev", "ext", "hairpin", hairpin],
        );
        outside.veth_to("o2b", &outside2, "eth0");
        run_in(o, &["ip", "link", "set", "o2b", "master", "br0"]);
        run_in(o, &["ip", "addr", "add", "10.77.0.100/24", "dev", "br0"]);
        run_in(
            o,
            &["ip", "addr", "add", "fd77::64/64", "dev", "br0", "nodad"],
        );
        run_in(o, &["ip", "link", "set", "br0", "up"]);
        set_mac(outside2.name(), "eth0", OUTSIDE2_MAC);
        outside2.address("eth0", "10.77.0.101/24");

        let child_netns: Vec<String> = (1..=scenario.children())
            .map(|_| names::unique("c"))
            .collect();
        let (switch, children) = match implementation {
            Implementation::Kernel => (None, kernel_children(&host, scenario, &child_netns)),
            Implementation::Vswitch => {
                let children = child_netns.iter().map(|n| Netns::owning(n)).collect();
                (
                    Some(vswitch_children(&host, scenario, &child_netns)),
                    children,
                )
            }
        };
        let mut stations: Vec<Station> = child_netns
            .iter()
            .enumerate()
            .map(|(index, netns)| Station {
                label: format!("c{}", index + 1),
                netns: netns.clone(),
                ifname: "eth0",
                address: format!("10.77.0.{}", index + 1),
                mac: if scenario.shares_mac() {
                    PARENT_MAC
                } else {
                    child_mac(index as u8 + 1)
                },
            })
            .collect();
        stations.push(Station {
            label: "out".to_string(),
            netns: o.to_string(),
            ifname: "br0",
            address: "10.77.0.100".to_string(),
            mac: OUTSIDE_MAC,
        });
        stations.push(Station {
            label: "out2".to_string(),
            netns: outside2.name().to_string(),
            ifname: "eth0",
            address: "10.77.0.101".to_string(),
            mac: OUTSIDE2_MAC,
        });
        Self {
            stations,
            _switch: switch,
            _children: children,
            _outside2: outside2,
            _outside: outside,
            _host: host,
        }
    }

    /// The reachability matrix: a ping between every ordered pair of stations, and which
    /// children see a broadcast frame from each outside station.
    pub fn matrix(&self) -> Matrix {
        let mut matrix = Matrix::default();
        thread::scope(|scope| {
            let pings: Vec<_> = self
                .stations
                .iter()
                .flat_map(|from| self.stations.iter().map(move |to| (from, to)))
                .filter(|(from, to)| from.label != to.label)
                .map(|(from, to)| {
                    let path = format!("ping {} → {}", from.label, to.label);
                    (path, scope.spawn(|| pings(&from.netns, &to.address)))
                })
                .collect();
            for (path, ping) in pings {
                matrix.0.insert(path, ping.join().expect("a ping thread"));
            }
        });
        // Each station broadcasts once; every station listens, the sender too (the driver
        // returns a private child's frame that the outside reflected to that child alone).
        for (marker, from) in (0x7700_u32..).zip(&self.stations) {
            let sockets: Vec<RawSocket> = self
                .stations
                .iter()
                .map(|station| RawSocket::open(&station.netns, station.ifname))
                .collect();
            sockets[self.index(&from.label)].send(&frames::ethernet([0xff; 6], from.mac, marker));
            for (to, socket) in self.stations.iter().zip(&sockets) {
                let seen = socket.receives(Duration::from_millis(300), |frame| {
                    frames::has_marker(frame, marker)
                });
                matrix
                    .0
                    .insert(format!("broadcast {} → {}", from.label, to.label), seen);
            }
        }
        matrix
    }
}

impl Lab {
    /// The namespace of station `label` (`c1`, `c2`, `out`, `out2`).
    pub fn netns(&self, label: &str) -> &str {
        &self.stations[self.index(label)].netns
    }

    /// The running switch (vswitch labs only).
    pub fn switch(&self) -> &Switch {
        self._switch
            .as_ref()
            .expect("a lab built with vswitch has a switch")
    }

    /// The MAC address station `label` has.
    pub fn mac(&self, label: &str) -> Mac {
        let station = &self.stations[self.index(label)];
        crate::bench::link::mac(&station.netns, station.ifname)
    }

    fn index(&self, label: &str) -> usize {
        self.stations
            .iter()
            .position(|station| station.label == label)
            .expect("a station of the lab")
    }
}

/// Sets the MAC address of `ifname` in `netns`.
fn set_mac(netns: &str, ifname: &str, mac: Mac) {
    let mac = vswitch_common::mac::Colons(&mac).to_string();
    run_in(netns, &["ip", "link", "set", ifname, "address", &mac]);
}

/// Makes the children with the kernel's driver: macvlan or ipvlan devices on `par`, moved into
/// their namespaces and renamed `eth0`.
fn kernel_children(host: &Netns, scenario: Scenario, child_netns: &[String]) -> Vec<Netns> {
    let h = host.name();
    let mut children = Vec::new();
    for (index, netns) in child_netns.iter().enumerate() {
        let n = index as u8 + 1;
        let child = Netns::new(netns);
        let name = format!("mv{n}");
        run_in(
            h,
            &[
                "ip",
                "link",
                "add",
                "link",
                "par",
                "name",
                &name,
                "type",
                scenario.driver,
                "mode",
                scenario.mode,
            ],
        );
        if scenario.mode == "source" {
            let allowed = vswitch_common::mac::Colons(&OUTSIDE_MAC).to_string();
            run_in(
                h,
                &[
                    "ip", "link", "set", "link", "dev", &name, "type", "macvlan", "macaddr", "add",
                    &allowed,
                ],
            );
        }
        run_in(h, &["ip", "link", "set", &name, "netns", netns]);
        run_in(netns, &["ip", "link", "set", &name, "name", "eth0"]);
        if !scenario.shares_mac() {
            set_mac(netns, "eth0", child_mac(n));
        }
        child.address("eth0", &format!("10.77.0.{n}/24"));
        child.address("eth0", &format!("fd77::{n}/64"));
        run_in(netns, &["ip", "link", "set", "eth0", "up"]);
        children.push(child);
    }
    children
}

/// Makes the children with vswitch: a `[[macvlan]]` or `[[ipvlan]]` on `par`.
fn vswitch_children(host: &Netns, scenario: Scenario, child_netns: &[String]) -> Switch {
    let children: Vec<String> = child_netns
        .iter()
        .enumerate()
        .map(|(index, netns)| {
            let n = index as u8 + 1;
            let mac = if scenario.shares_mac() {
                String::new()
            } else {
                format!(", mac = \"{}\"", vswitch_common::mac::Colons(&child_mac(n)))
            };
            let sources = if scenario.mode == "source" {
                format!(
                    ", allowed_sources = [\"{}\"]",
                    vswitch_common::mac::Colons(&OUTSIDE_MAC)
                )
            } else {
                String::new()
            };
            format!(
                "{{ name = \"mv{n}\", netns = \"{netns}\", \
                 address = [\"10.77.0.{n}/24\", \"fd77::{n}/64\"]{mac}{sources} }}"
            )
        })
        .collect();
    let config = format!(
        "[[{}]]\nparent = \"par\"\nmode = \"{}\"\nchildren = [\n{}\n]\n",
        scenario.driver,
        scenario.mode,
        children.join(",\n")
    );
    Switch::start(host, &config)
}
