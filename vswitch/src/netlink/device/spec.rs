//! A device as the user describes it: `vswitch dev add KIND NAME [options]` or a `[[device]]`
//! table of the config file.

use serde::de::DeserializeOwned;

use super::{
    Bond, Bridge, Common, Ipvlan, Kind, Macsec, Macvlan, Netdevsim, TunOptions, Tunnel, TunnelKind,
    Veth, Vlan, Vxlan, dummy::Dummy, ifb::Ifb, macvlan, namespace::Namespace, nlmon::Nlmon,
    team::Team, tun, tunnel::IpTunnel, vcan::Vcan, vxcan::Vxcan,
};
use crate::config::check_ifname;

/// One device: its name, the options of its kind, and the options every kind takes.
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct Device<K: clap::Args> {
    /// The interface's (or namespace's) name.
    pub name: String,
    /// The options of this kind.
    #[command(flatten)]
    pub kind: K,
    /// MTU, MAC, up, master, netns and addresses.
    #[command(flatten)]
    pub common: Common,
}

/// A kind without options of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {}

/// A device of any kind.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum DeviceSpec {
    /// A veth pair: what enters one end leaves the other.
    Veth(Device<Veth>),
    /// A persistent tap device (Ethernet frames), for VMs.
    Tap(Device<TunOptions>),
    /// A persistent tun device (IP packets).
    Tun(Device<TunOptions>),
    /// A VXLAN tunnel endpoint.
    Vxlan(Device<Vxlan>),
    /// A macvlan child of a parent interface: its own MAC, dispatched by the parent.
    Macvlan(Device<Macvlan>),
    /// A macvtap child of a parent interface: a macvlan with a tap character device.
    Macvtap(Device<Macvlan>),
    /// A Linux bridge.
    Bridge(Device<Bridge>),
    /// An 802.1Q or 802.1ad VLAN interface on a parent.
    Vlan(Device<Vlan>),
    /// An ipvlan child: shares the parent's MAC, dispatched by IP address.
    Ipvlan(Device<Ipvlan>),
    /// A bond of member interfaces.
    Bond(Device<Bond>),
    /// A dummy interface: drops everything it sends.
    Dummy(Device<NoOptions>),
    /// An intermediate functional block, for redirecting traffic to.
    Ifb(Device<NoOptions>),
    /// A simulated device on the netdevsim bus (ports, SR-IOV VFs, BPF offload).
    Netdevsim(Device<Netdevsim>),
    /// A named network namespace, as `ip netns add` makes it.
    Netns(Device<NoOptions>),
    /// A team of member interfaces (run by teamd).
    Team(Device<NoOptions>),
    /// An 802.1AE MACsec child of a parent interface.
    Macsec(Device<Macsec>),
    /// A virtual CAN bus interface.
    Vcan(Device<NoOptions>),
    /// A pair of virtual CAN interfaces, like a veth pair.
    Vxcan(Device<Veth>),
    /// A netlink monitor interface.
    Nlmon(Device<NoOptions>),
    /// An IPv4-in-IPv4 tunnel.
    Ipip(Device<Tunnel>),
    /// An IPv6-in-IPv4 tunnel.
    Sit(Device<Tunnel>),
    /// An IPv4- or IPv6-in-IPv6 tunnel.
    Ip6tnl(Device<Tunnel>),
    /// A GRE tunnel over IPv4.
    Gre(Device<Tunnel>),
    /// A GRE tunnel over IPv6.
    Ip6gre(Device<Tunnel>),
}

impl DeviceSpec {
    /// Every kind's name, as `kind = "..."` in a `[[device]]` table.
    pub const KINDS: &[&str] = &[
        "veth",
        "tap",
        "tun",
        "vxlan",
        "macvlan",
        "macvtap",
        "bridge",
        "vlan",
        "ipvlan",
        "bond",
        "dummy",
        "ifb",
        "netdevsim",
        "netns",
        "team",
        "macsec",
        "vcan",
        "vxcan",
        "nlmon",
        "ipip",
        "sit",
        "ip6tnl",
        "gre",
        "ip6gre",
    ];

    /// The device's name.
    pub fn name(&self) -> &str {
        self.parts().0
    }

    /// The options every kind takes.
    pub fn common(&self) -> &Common {
        self.parts().1
    }

    /// The kind's name (`vlan`, `bond`, ...).
    pub fn kind_name(&self) -> &'static str {
        self.parts().2.name()
    }

    /// Whether this is a network namespace rather than an interface.
    pub fn is_netns(&self) -> bool {
        matches!(self, Self::Netns(_))
    }

    pub(super) fn parts(&self) -> (&str, &Common, Box<dyn Kind + '_>) {
        fn of<'a, K: clap::Args>(
            device: &'a Device<K>,
            kind: impl Kind + 'a,
        ) -> (&'a str, &'a Common, Box<dyn Kind + 'a>) {
            (&device.name, &device.common, Box::new(kind))
        }
        match self {
            Self::Veth(device) => of(device, &device.kind),
            Self::Tap(device) => of(device, tun::Tap(&device.kind)),
            Self::Tun(device) => of(device, tun::Tun(&device.kind)),
            Self::Vxlan(device) => of(device, &device.kind),
            Self::Macvlan(device) => of(device, &device.kind),
            Self::Macvtap(device) => of(device, macvlan::Macvtap(&device.kind)),
            Self::Bridge(device) => of(device, &device.kind),
            Self::Vlan(device) => of(device, &device.kind),
            Self::Ipvlan(device) => of(device, &device.kind),
            Self::Bond(device) => of(device, &device.kind),
            Self::Dummy(device) => of(device, Dummy),
            Self::Ifb(device) => of(device, Ifb),
            Self::Netdevsim(device) => of(device, &device.kind),
            Self::Netns(device) => of(device, Namespace),
            Self::Team(device) => of(device, Team),
            Self::Macsec(device) => of(device, &device.kind),
            Self::Vcan(device) => of(device, Vcan),
            Self::Vxcan(device) => of(device, Vxcan(&device.kind)),
            Self::Nlmon(device) => of(device, Nlmon),
            Self::Ipip(device) => of(device, IpTunnel(TunnelKind::Ipip, &device.kind)),
            Self::Sit(device) => of(device, IpTunnel(TunnelKind::Sit, &device.kind)),
            Self::Ip6tnl(device) => of(device, IpTunnel(TunnelKind::Ip6tnl, &device.kind)),
            Self::Gre(device) => of(device, IpTunnel(TunnelKind::Gre, &device.kind)),
            Self::Ip6gre(device) => of(device, IpTunnel(TunnelKind::Ip6gre, &device.kind)),
        }
    }

    /// Checks the name and the options beyond their types; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let (name, common, kind) = self.parts();
        let kind_name = kind.name();
        if self.is_netns() {
            crate::config::check_netns_name(name)?;
            if *common != Common::default() {
                return Err(format!("netns {name}: a namespace takes no device options"));
            }
        } else {
            check_ifname(name)?;
        }
        common.validate()?;
        kind.validate()
            .map_err(|reason| format!("{kind_name} {name}: {reason}"))
    }

    /// Reads a `[[device]]` table: `kind`, `name`, the options every kind takes and those of
    /// the kind; unknown keys are refused.
    pub fn from_table(table: &toml::Table) -> Result<Self, String> {
        let kind = match table.get("kind") {
            Some(toml::Value::String(kind)) => kind.as_str(),
            Some(_) => return Err("kind must be a string".to_string()),
            None => {
                return Err(format!(
                    "a device needs `kind = \"...\"`, one of {}",
                    Self::KINDS.join(", ")
                ));
            }
        };
        let Some(toml::Value::String(name)) = table.get("name") else {
            return Err("a device needs `name = \"...\"`".to_string());
        };
        let (mut common, mut options) = (toml::Table::new(), toml::Table::new());
        for (key, value) in table {
            match key.as_str() {
                "kind" | "name" => {}
                key if Common::KEYS.contains(&key) => {
                    common.insert(key.to_string(), value.clone());
                }
                key => {
                    options.insert(key.to_string(), value.clone());
                }
            }
        }
        let common: Common = typed(common)?;
        let name = name.clone();
        Ok(match kind {
            "veth" => Self::Veth(device(name, options, common)?),
            "tap" => Self::Tap(device(name, options, common)?),
            "tun" => Self::Tun(device(name, options, common)?),
            "vxlan" => Self::Vxlan(device(name, options, common)?),
            "macvlan" => Self::Macvlan(device(name, options, common)?),
            "macvtap" => Self::Macvtap(device(name, options, common)?),
            "bridge" => Self::Bridge(device(name, options, common)?),
            "vlan" => Self::Vlan(device(name, options, common)?),
            "ipvlan" => Self::Ipvlan(device(name, options, common)?),
            "bond" => Self::Bond(device(name, options, common)?),
            "dummy" => Self::Dummy(device(name, options, common)?),
            "ifb" => Self::Ifb(device(name, options, common)?),
            "netdevsim" => Self::Netdevsim(device(name, options, common)?),
            "netns" => Self::Netns(device(name, options, common)?),
            "team" => Self::Team(device(name, options, common)?),
            "macsec" => Self::Macsec(device(name, options, common)?),
            "vcan" => Self::Vcan(device(name, options, common)?),
            "vxcan" => Self::Vxcan(device(name, options, common)?),
            "nlmon" => Self::Nlmon(device(name, options, common)?),
            "ipip" => Self::Ipip(device(name, options, common)?),
            "sit" => Self::Sit(device(name, options, common)?),
            "ip6tnl" => Self::Ip6tnl(device(name, options, common)?),
            "gre" => Self::Gre(device(name, options, common)?),
            "ip6gre" => Self::Ip6gre(device(name, options, common)?),
            other => {
                return Err(format!(
                    "kind {other:?} is not one of {}",
                    Self::KINDS.join(", ")
                ));
            }
        })
    }
}

fn device<K: clap::Args + DeserializeOwned>(
    name: String,
    options: toml::Table,
    common: Common,
) -> Result<Device<K>, String> {
    Ok(Device {
        name,
        kind: typed(options)?,
        common,
    })
}

fn typed<T: DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|error: toml::de::Error| error.message().trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::device::{BondModeName, VlanProtocolName};

    fn table(text: &str) -> Result<DeviceSpec, String> {
        let spec = DeviceSpec::from_table(&toml::from_str(text).expect("TOML"))?;
        spec.validate()?;
        Ok(spec)
    }

    #[test]
    fn a_table_splits_into_kind_and_common_options() {
        let spec = table(
            "kind = \"vlan\"\nname = \"up0.10\"\nparent = \"up0\"\nid = 10\n\
             protocol = \"802.1ad\"\nmtu = 1496\nup = true\naddress = [\"10.0.0.1/24\"]\n",
        )
        .unwrap();
        let DeviceSpec::Vlan(device) = &spec else {
            panic!("not a vlan: {spec:?}");
        };
        assert_eq!(device.kind.id, 10);
        assert_eq!(device.kind.protocol, VlanProtocolName::Dot1Ad);
        assert_eq!(device.common.mtu, Some(1496));
        assert!(device.common.up);
        assert_eq!(device.common.address.len(), 1);
    }

    #[test]
    fn defaults_are_those_of_the_command_line() {
        let DeviceSpec::Bond(bond) = table("kind = \"bond\"\nname = \"bond0\"\n").unwrap() else {
            panic!("not a bond");
        };
        assert_eq!(bond.kind.mode, BondModeName::ActiveBackup);
        assert_eq!(bond.kind.miimon, 100);
    }

    #[test]
    fn unknown_keys_kinds_and_values_are_refused() {
        let unknown = table("kind = \"dummy\"\nname = \"d0\"\nid = 3\n").unwrap_err();
        assert!(unknown.contains("unknown field `id`"), "{unknown}");
        let kind = table("kind = \"token-ring\"\nname = \"t0\"\n").unwrap_err();
        assert!(kind.contains("is not one of veth"), "{kind}");
        let vid = table("kind = \"vlan\"\nname = \"v\"\nparent = \"p\"\nid = 4095\n").unwrap_err();
        assert_eq!(vid, "vlan v: id 4095 must be from 1 to 4094");
        let mac = table("kind = \"dummy\"\nname = \"d0\"\nmac = \"02:00\"\n").unwrap_err();
        assert!(mac.contains("MAC address"), "{mac}");
        let netns = table("kind = \"netns\"\nname = \"n\"\nmtu = 1500\n").unwrap_err();
        assert!(netns.contains("takes no device options"), "{netns}");
    }
}
