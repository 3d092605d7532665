//! `[[macvlan]]` and `[[ipvlan]]`: children behind a parent interface, dispatched by the
//! switch as the kernel's macvlan driver (by MAC address, each child its own) or ipvlan driver
//! (by IP address, every child with the parent's MAC) would in the section's mode.

use std::net::IpAddr;

use toml::Spanned;
use vswitch_common::{
    dispatch::{MAX_CHILDREN, MAX_PARENTS, Mode},
    mac::{self, MacAddr},
};

use super::{
    PortSpec, VxlanSpec,
    file::{ChildSection, ParentSection},
    validate::{ConfigError, Source, check_ifname, veth_end},
};

/// One `[[macvlan]]` or `[[ipvlan]]`: a parent interface and its children, all in one mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentSpec {
    /// The parent, an existing interface in the switch's namespace.
    pub parent: String,
    /// The mode of every child.
    pub mode: Mode,
    /// The children.
    pub children: Vec<ChildSpec>,
}

/// One child of a parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildSpec {
    /// The interface on the switch's side: the veth end, or the tap.
    pub name: String,
    /// What it is.
    pub kind: ChildKind,
    /// Its MAC address; `None` in passthru and ipvlan modes, where it takes the parent's.
    pub mac: Option<MacAddr>,
    /// Source mode: the addresses it accepts frames from.
    pub allowed_sources: Vec<MacAddr>,
}

/// What a child is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// A veth whose peer is moved into `netns` and named `eth0`, with the child's MAC.
    Veth {
        /// Network namespace of the peer; created if missing.
        netns: String,
        /// Addresses with prefix length on the peer.
        addresses: Vec<(IpAddr, u8)>,
    },
    /// A persistent tap device for a VM (the macvtap case): the VM reads and writes frames
    /// through `/dev/net/tun`.
    Tap,
}

/// The MAC address a child without `mac` gets: locally administered, from its name, so it is
/// the same on every run.
pub fn default_mac(name: &str) -> MacAddr {
    // FNV-1a, 64 bits.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let bytes = hash.to_be_bytes();
    [0x02, bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]]
}

impl ChildSpec {
    /// The namespace of a veth child's peer; `None` for a tap.
    pub fn netns(&self) -> Option<&str> {
        match &self.kind {
            ChildKind::Veth { netns, .. } => Some(netns),
            ChildKind::Tap => None,
        }
    }
}

impl ParentSpec {
    /// Every interface name the section uses: the parent and the children.
    fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.parent.as_str()).chain(self.children.iter().map(|c| c.name.as_str()))
    }
}

/// Why `port` cannot be a port of a switch with these parents, if it cannot.
pub fn port_conflict(parents: &[ParentSpec], port: &PortSpec) -> Option<String> {
    if let Some(section) = parents
        .iter()
        .find(|section| section.names().any(|name| name == port.name))
    {
        return Some(format!(
            "{} belongs to the children of parent {}: it cannot also be a port",
            port.name, section.parent
        ));
    }
    let netns = port.kind.netns()?;
    parents
        .iter()
        .flat_map(|section| &section.children)
        .find(|child| child.netns() == Some(netns))
        .map(|child| {
            format!(
                "netns {netns} already holds the eth0 of child {}",
                child.name
            )
        })
}

/// Which driver a section imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Driver {
    /// `[[macvlan]]`.
    Macvlan,
    /// `[[ipvlan]]`.
    Ipvlan,
}

/// Validates every `[[macvlan]]` and `[[ipvlan]]` section, against each other, the ports and
/// the tunnels.
pub(super) fn parents(
    source: &Source<'_>,
    sections: &[(Driver, &Spanned<ParentSection>)],
    ports: &[PortSpec],
    vxlans: &[VxlanSpec],
) -> Result<Vec<ParentSpec>, ConfigError> {
    if sections.len() > MAX_PARENTS as usize {
        return Err(source.error(
            sections[MAX_PARENTS as usize].1.span(),
            format!("at most {MAX_PARENTS} [[macvlan]] and [[ipvlan]] sections are supported"),
        ));
    }
    let mut parents: Vec<ParentSpec> = Vec::with_capacity(sections.len());
    for (driver, section) in sections {
        let spec = parent(source, section.get_ref(), *driver)?;
        let parent_span = section.get_ref().parent.span();
        if parents.iter().any(|other| other.parent == spec.parent) {
            return Err(source.error(
                parent_span,
                format!(
                    "parent {} has two [[macvlan]] or [[ipvlan]] sections: one per parent",
                    spec.parent
                ),
            ));
        }
        if vxlans.iter().any(|tunnel| tunnel.underlay == spec.parent) {
            return Err(source.error(
                parent_span,
                format!(
                    "{} is a VXLAN underlay: it cannot also be a parent",
                    spec.parent
                ),
            ));
        }
        let taken = |name: &str| {
            ports.iter().any(|port| port.name == name)
                || parents.iter().any(|other| other.names().any(|n| n == name))
        };
        for (name, span) in std::iter::once((spec.parent.as_str(), parent_span.clone())).chain(
            spec.children
                .iter()
                .zip(&section.get_ref().children)
                .map(|(child, section)| (child.name.as_str(), section.get_ref().name.span())),
        ) {
            if taken(name) {
                return Err(source.error(
                    span,
                    format!("{name} is already a port, parent or child of this switch"),
                ));
            }
        }
        let sections = &section.get_ref().children;
        for (index, (child, child_section)) in spec.children.iter().zip(sections).enumerate() {
            let Some(netns) = child.netns() else {
                continue;
            };
            let earlier = parents
                .iter()
                .flat_map(|other| &other.children)
                .chain(&spec.children[..index]);
            let shared = ports.iter().any(|port| port.kind.netns() == Some(netns))
                || earlier
                    .into_iter()
                    .any(|other| other.netns() == Some(netns));
            if shared {
                return Err(source.error(
                    child_section.span(),
                    format!("netns {netns} already holds another eth0; use one child per netns"),
                ));
            }
        }
        parents.push(spec);
    }
    Ok(parents)
}

fn parent(
    source: &Source<'_>,
    section: &ParentSection,
    driver: Driver,
) -> Result<ParentSpec, ConfigError> {
    let parent = section.parent.get_ref().clone();
    check_ifname(&parent).map_err(|reason| source.error(section.parent.span(), reason))?;
    let mode = match (&section.mode, driver) {
        (Some(mode), Driver::Macvlan) => Mode::MACVLAN
            .into_iter()
            .find(|known| known.name() == mode.get_ref())
            .ok_or_else(|| {
                source.error(
                    mode.span(),
                    format!(
                        "mode must be bridge, vepa, private, passthru or source, not {:?}",
                        mode.get_ref()
                    ),
                )
            })?,
        (Some(mode), Driver::Ipvlan) => match mode.get_ref().as_str() {
            "l2" => Mode::IpvlanL2,
            "l3" => Mode::IpvlanL3,
            other => {
                return Err(
                    source.error(mode.span(), format!("mode must be l2 or l3, not {other:?}"))
                );
            }
        },
        (None, Driver::Macvlan) => Mode::Bridge,
        (None, Driver::Ipvlan) => Mode::IpvlanL2,
    };
    if section.children.is_empty() {
        return Err(source.error(
            section.parent.span(),
            format!("parent {parent} has no children"),
        ));
    }
    if section.children.len() > MAX_CHILDREN {
        return Err(source.error(
            section.children[MAX_CHILDREN].span(),
            format!("at most {MAX_CHILDREN} children per parent are supported"),
        ));
    }
    if mode == Mode::Passthru && section.children.len() > 1 {
        return Err(source.error(
            section.children[1].span(),
            "passthru mode has exactly one child",
        ));
    }
    let mut children: Vec<ChildSpec> = Vec::with_capacity(section.children.len());
    for child_section in &section.children {
        let child = child(source, child_section.get_ref(), mode)?;
        if let Some(mac) = child.mac
            && children.iter().any(|other| other.mac == Some(mac))
        {
            return Err(source.error(
                child_section.span(),
                format!(
                    "{} has the MAC address {} of another child of {parent}",
                    child.name,
                    mac::Colons(&mac)
                ),
            ));
        }
        children.push(child);
    }
    Ok(ParentSpec {
        parent,
        mode,
        children,
    })
}

fn child(
    source: &Source<'_>,
    section: &ChildSection,
    mode: Mode,
) -> Result<ChildSpec, ConfigError> {
    let name = section.name.get_ref().clone();
    check_ifname(&name).map_err(|reason| source.error(section.name.span(), reason))?;
    let tap = match &section.kind {
        Some(kind) => match kind.get_ref().as_str() {
            "veth" => false,
            "tap" => true,
            other => {
                return Err(source.error(
                    kind.span(),
                    format!("kind must be \"veth\" or \"tap\", not {other:?}"),
                ));
            }
        },
        None => false,
    };
    let kind = match (&section.netns, tap) {
        (Some(netns), true) => {
            return Err(source.error(
                netns.span(),
                "a tap child has no netns: its VM opens it through /dev/net/tun",
            ));
        }
        (None, true) => {
            if let Some(address) = section.address.first() {
                return Err(source.error(
                    address.span(),
                    "a tap child has no addresses: its VM sets them",
                ));
            }
            ChildKind::Tap
        }
        (None, false) => {
            return Err(source.error(
                section.name.span(),
                format!("child {name} needs `netns = \"...\"`, or `kind = \"tap\"`"),
            ));
        }
        (Some(netns), false) => {
            let (netns, addresses) = veth_end(source, netns, &section.address)?;
            ChildKind::Veth { netns, addresses }
        }
    };
    if mode.is_ipvlan() {
        match &kind {
            ChildKind::Tap => {
                return Err(source.error(
                    section.name.span(),
                    format!(
                        "ipvlan child {name} cannot be a tap: the switch finds ipvlan children \
                         by the addresses it gives them"
                    ),
                ));
            }
            ChildKind::Veth { addresses, .. } if addresses.is_empty() => {
                return Err(source.error(
                    section.name.span(),
                    format!(
                        "ipvlan child {name} needs `address = [...]`: frames reach it by its \
                         IP addresses"
                    ),
                ));
            }
            ChildKind::Veth { .. } => {}
        }
    }
    let mac = match (&section.mac, mode) {
        (Some(mac), Mode::Passthru | Mode::IpvlanL2 | Mode::IpvlanL3) => {
            return Err(source.error(
                mac.span(),
                format!(
                    "a {} child takes its parent's MAC address: drop `mac`",
                    mode.name()
                ),
            ));
        }
        (None, Mode::Passthru | Mode::IpvlanL2 | Mode::IpvlanL3) => None,
        (Some(mac), _) => Some(unicast_mac(source, mac)?),
        (None, _) => Some(default_mac(&name)),
    };
    if mode != Mode::Source
        && let Some(first) = section.allowed_sources.first()
    {
        return Err(source.error(
            first.span(),
            "allowed_sources is only for mode = \"source\"",
        ));
    }
    let allowed_sources = section
        .allowed_sources
        .iter()
        .map(|mac| unicast_mac(source, mac))
        .collect::<Result<_, _>>()?;
    Ok(ChildSpec {
        name,
        kind,
        mac,
        allowed_sources,
    })
}

fn unicast_mac(source: &Source<'_>, text: &Spanned<String>) -> Result<MacAddr, ConfigError> {
    match mac::parse(text.get_ref()) {
        Some(mac) if !mac::is_group(&mac) && !mac::is_zero(&mac) => Ok(mac),
        _ => Err(source.error(
            text.span(),
            format!(
                "{:?} must be a unicast MAC address like 02:00:00:00:00:01",
                text.get_ref()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("t.toml"), text).map_err(|error| error.to_string())
    }

    #[test]
    fn sections_are_parsed_with_children_of_both_kinds() {
        let config = parse(
            "[[macvlan]]\nparent = \"up0\"\nmode = \"vepa\"\nchildren = [\n\
             { name = \"mv1\", netns = \"c1\", address = [\"10.1.0.1/24\"], mac = \"02:00:00:00:01:01\" },\n\
             { name = \"mvt1\", kind = \"tap\" } ]\n",
        )
        .unwrap();
        let spec = &config.parents[0];
        assert_eq!(spec.parent, "up0");
        assert_eq!(spec.mode, Mode::Vepa);
        assert_eq!(spec.children[0].mac, Some([2, 0, 0, 0, 1, 1]));
        assert!(
            matches!(&spec.children[0].kind, ChildKind::Veth { netns, addresses }
            if netns == "c1" && addresses.len() == 1)
        );
        assert_eq!(spec.children[1].kind, ChildKind::Tap);
        assert_eq!(spec.children[1].mac, Some(default_mac("mvt1")));
    }

    #[test]
    fn mode_defaults_to_bridge_and_passthru_takes_one_child_without_a_mac() {
        let config =
            parse("[[macvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", netns = \"c1\" }]\n")
                .unwrap();
        assert_eq!(config.parents[0].mode, Mode::Bridge);
        let passthru = "[[macvlan]]\nparent = \"up0\"\nmode = \"passthru\"\nchildren = [";
        assert_eq!(
            parse(&format!("{passthru}{{ name = \"a\", netns = \"c1\" }}]\n"))
                .unwrap()
                .parents[0]
                .children[0]
                .mac,
            None
        );
        assert_eq!(
            parse(&format!(
                "{passthru}{{ name = \"a\", netns = \"c1\" }},\n{{ name = \"b\", netns = \"c2\" }}]\n"
            ))
            .unwrap_err(),
            "t.toml:5: passthru mode has exactly one child"
        );
    }

    #[test]
    fn conflicts_and_bad_values_are_refused_with_their_line() {
        let cases = [
            (
                "[[macvlan]]\nparent = \"up0\"\nmode = \"nope\"\nchildren = [{ name = \"a\", netns = \"c1\" }]\n",
                "t.toml:3: mode must be bridge, vepa, private, passthru or source, not \"nope\"",
            ),
            (
                "[[macvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", netns = \"c1\", allowed_sources = [\"02:00:00:00:00:01\"] }]\n",
                "t.toml:3: allowed_sources is only for mode = \"source\"",
            ),
            (
                "[[macvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", kind = \"tap\", netns = \"c1\" }]\n",
                "t.toml:3: a tap child has no netns: its VM opens it through /dev/net/tun",
            ),
            (
                "[[macvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", netns = \"c1\", mac = \"01:00:5e:00:00:01\" }]\n",
                "t.toml:3: \"01:00:5e:00:00:01\" must be a unicast MAC address like 02:00:00:00:00:01",
            ),
            (
                "[[port]]\nname = \"a\"\nnetns = \"x\"\n[[macvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", netns = \"c1\" }]\n",
                "t.toml:6: a is already a port, parent or child of this switch",
            ),
            (
                "[[macvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", netns = \"c1\" },\n{ name = \"b\", netns = \"c1\" }]\n",
                "t.toml:4: netns c1 already holds another eth0; use one child per netns",
            ),
            (
                "[[macvlan]]\nparent = \"up0\"\nchildren = []\n",
                "t.toml:2: parent up0 has no children",
            ),
            (
                "[[ipvlan]]\nparent = \"up0\"\nmode = \"l3\"\nchildren = [{ name = \"a\", netns = \"c1\" }]\n",
                "t.toml:4: ipvlan child a needs `address = [...]`: frames reach it by its IP addresses",
            ),
            (
                "[[ipvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", kind = \"tap\" }]\n",
                "t.toml:3: ipvlan child a cannot be a tap: the switch finds ipvlan children by the addresses it gives them",
            ),
            (
                "[[ipvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", netns = \"c1\", address = [\"10.0.0.1/24\"], mac = \"02:00:00:00:00:01\" }]\n",
                "t.toml:3: a l2 child takes its parent's MAC address: drop `mac`",
            ),
            (
                "[[macvlan]]\nparent = \"up0\"\nchildren = [{ name = \"a\", netns = \"c1\" }]\n[[ipvlan]]\nparent = \"up0\"\nchildren = [{ name = \"b\", netns = \"c2\", address = [\"10.0.0.2/24\"] }]\n",
                "t.toml:5: parent up0 has two [[macvlan]] or [[ipvlan]] sections: one per parent",
            ),
        ];
        for (text, error) in cases {
            assert_eq!(parse(text).unwrap_err(), error, "{text}");
        }
    }

    #[test]
    fn ipvlan_sections_are_l2_children_without_their_own_mac() {
        let config = parse(
            "[[ipvlan]]\nparent = \"up0\"\nchildren = [\n\
             { name = \"iv1\", netns = \"c1\", address = [\"10.2.0.1/24\", \"fd00::1/64\"] } ]\n",
        )
        .unwrap();
        let spec = &config.parents[0];
        assert_eq!(spec.mode, Mode::IpvlanL2);
        assert_eq!(spec.children[0].mac, None);
        let routed = parse(
            "[[ipvlan]]\nparent = \"up0\"\nmode = \"l3\"\nchildren = [\n\
             { name = \"iv1\", netns = \"c1\", address = [\"10.2.0.1/24\"] } ]\n",
        )
        .unwrap();
        assert_eq!(routed.parents[0].mode, Mode::IpvlanL3);
    }

    #[test]
    fn default_macs_are_unicast_and_stable() {
        let mac = default_mac("mv1");
        assert_eq!(mac, default_mac("mv1"));
        assert_ne!(mac, default_mac("mv2"));
        assert!(!mac::is_group(&mac));
        assert_eq!(mac[0] & 0x02, 0x02);
    }
}
