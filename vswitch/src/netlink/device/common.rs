//! The options every kind of device takes: MTU, MAC, up, master, namespace and addresses.

use std::{net::IpAddr, str::FromStr};

/// An address with its prefix length, as `10.0.0.1/24` or `fd00::1/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr {
    /// The address.
    pub address: IpAddr,
    /// The prefix length.
    pub prefix_len: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix_len) = crate::config::parse_cidr(text)?;
        Ok(Self {
            address,
            prefix_len,
        })
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// A MAC address, as `02:00:00:00:00:01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Mac(pub [u8; 6]);

impl FromStr for Mac {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        vswitch_common::mac::parse(text)
            .map(Self)
            .ok_or_else(|| format!("MAC address {text:?} must look like 02:00:00:00:00:01"))
    }
}

impl TryFrom<String> for Mac {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// The options every kind of device takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Common {
    /// MTU in bytes.
    #[arg(long)]
    pub mtu: Option<u32>,
    /// MAC address, as 02:00:00:00:00:01.
    #[arg(long)]
    pub mac: Option<Mac>,
    /// Bring the device up.
    #[arg(long)]
    #[serde(default)]
    pub up: bool,
    /// Enslave the device to this bridge or bond.
    #[arg(long)]
    pub master: Option<String>,
    /// Move the device into this network namespace.
    #[arg(long)]
    pub netns: Option<String>,
    /// An address with its prefix length (IPv4 or IPv6; repeat for several).
    #[arg(long = "address", value_name = "CIDR")]
    #[serde(default)]
    pub address: Vec<Cidr>,
}

impl Common {
    /// The keys of a `[[device]]` table that belong here rather than to the kind.
    pub const KEYS: &[&str] = &["mtu", "mac", "up", "master", "netns", "address"];

    /// Checks the options beyond their types.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(mtu) = self.mtu
            && !(68..=65535).contains(&mtu)
        {
            return Err(format!("mtu {mtu} must be from 68 to 65535"));
        }
        if self.master.is_some() && self.netns.is_some() {
            return Err(
                "master and netns exclude each other: a master must be in the same namespace"
                    .to_string(),
            );
        }
        if let Some(master) = &self.master {
            crate::config::check_ifname(master)?;
        }
        if let Some(netns) = &self.netns {
            crate::config::check_netns_name(netns)?;
        }
        Ok(())
    }
}
