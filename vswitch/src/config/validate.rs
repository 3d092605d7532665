//! Turning the file as written into a [`Config`], or into `FILE:LINE: reason`.

use std::{
    net::IpAddr,
    ops::Range,
    path::{Path, PathBuf},
};

use toml::Spanned;
use vswitch_common::vlan;

use super::{
    Config, DeviceSpec, Hook, LoopGuardSpec, Offload, PortConflict, PortKind, PortSpec, VlanMode,
    dispatch::Driver,
    file::{File, PortSection, SwitchSection},
};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid, at a known line.
    #[error("{}:{line}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what to do.
        reason: String,
    },
}

/// Default instance name.
pub const DEFAULT_NAME: &str = "vsw0";
/// Default learned-address lifetime in seconds.
pub const DEFAULT_AGEING_SECS: u64 = 300;
/// Longest interface name Linux accepts.
const IFNAME_MAX: usize = 15;

/// The file being validated, for locating errors.
pub(super) struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    pub(super) fn error(&self, span: Range<usize>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: self.line_of(span.start),
            reason: reason.into(),
        }
    }
}

pub(super) fn validate(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let source = Source { path, text };
    let file: File = toml::from_str(text).map_err(|error| {
        let span = error.span().unwrap_or(0..0);
        source.error(span, error.message().trim_end().to_string())
    })?;
    let max_macs = file
        .switch
        .as_ref()
        .and_then(|switch| switch.get_ref().max_macs.as_ref())
        .map(|max| max_macs(&source, max, true))
        .transpose()?;
    let loop_guard = file
        .switch
        .as_ref()
        .map(|switch| loop_guard(&source, switch.get_ref()))
        .transpose()?
        .flatten();
    let (name, ageing_secs, offload) = match &file.switch {
        Some(switch) => {
            let switch = switch.get_ref();
            let name = match &switch.name {
                Some(name) => {
                    check_instance_name(name.get_ref())
                        .map_err(|reason| source.error(name.span(), reason))?;
                    name.get_ref().clone()
                }
                None => DEFAULT_NAME.to_string(),
            };
            let ageing_secs = match &switch.ageing_secs {
                Some(secs) => u64::try_from(*secs.get_ref())
                    .ok()
                    .filter(|secs| (1..=1_000_000).contains(secs))
                    .ok_or_else(|| {
                        source.error(secs.span(), "ageing_secs must be from 1 to 1000000")
                    })?,
                None => DEFAULT_AGEING_SECS,
            };
            let offload = switch
                .offload
                .as_ref()
                .map(|offload| parse_offload(&source, offload))
                .transpose()?
                .unwrap_or_default();
            (name, ageing_secs, offload)
        }
        None => (
            DEFAULT_NAME.to_string(),
            DEFAULT_AGEING_SECS,
            Offload::default(),
        ),
    };
    let devices = devices(&source, &file.device)?;
    let mut ports: Vec<PortSpec> = Vec::with_capacity(file.port.len());
    for section in &file.port {
        let port = port(&source, section)?;
        if let Err(conflict) = super::admit_port(&ports, &port) {
            let span = match conflict {
                PortConflict::DuplicateName(_) => section.get_ref().name.span(),
                PortConflict::TooManyPorts => file.port[0].span(),
                PortConflict::SharedNetns(_) | PortConflict::VlanFull(_) => section.span(),
            };
            return Err(source.error(span, conflict.to_string()));
        }
        ports.push(port);
    }
    let vxlans = super::vxlan::tunnels(&source, &file.vxlan, &ports)?;
    for (section, port) in file.port.iter().zip(&ports) {
        if let Some(conflict) = super::tunnel_conflict(&vxlans, port) {
            return Err(source.error(section.span(), conflict));
        }
    }
    let sections: Vec<_> = file
        .macvlan
        .iter()
        .map(|section| (Driver::Macvlan, section))
        .chain(file.ipvlan.iter().map(|section| (Driver::Ipvlan, section)))
        .collect();
    let parents = super::dispatch::parents(&source, &sections, &ports, &vxlans)?;
    let cluster = file
        .cluster
        .as_ref()
        .map(|section| super::cluster::cluster(&source, section, &vxlans))
        .transpose()?;
    Ok(Config {
        name,
        ageing_secs,
        ports,
        offload,
        vxlans,
        devices,
        parents,
        max_macs,
        loop_guard,
        cluster,
    })
}

/// `[switch] loop_guard_moves` and `loop_guard_hold_secs`.
fn loop_guard(
    source: &Source<'_>,
    switch: &SwitchSection,
) -> Result<Option<LoopGuardSpec>, ConfigError> {
    let Some(moves) = &switch.loop_guard_moves else {
        return match &switch.loop_guard_hold_secs {
            Some(hold) => Err(source.error(
                hold.span(),
                "loop_guard_hold_secs needs loop_guard_moves, which turns the loop guard on",
            )),
            None => Ok(None),
        };
    };
    let moves_per_sec = u32::try_from(*moves.get_ref())
        .ok()
        .filter(|moves| *moves >= 1)
        .ok_or_else(|| {
            source.error(
                moves.span(),
                "loop_guard_moves must be from 1 to 4294967295",
            )
        })?;
    let hold_secs = match &switch.loop_guard_hold_secs {
        Some(hold) => u64::try_from(*hold.get_ref())
            .ok()
            .filter(|secs| (1..=86_400).contains(secs))
            .ok_or_else(|| {
                source.error(hold.span(), "loop_guard_hold_secs must be from 1 to 86400")
            })?,
        None => LoopGuardSpec::DEFAULT_HOLD_SECS,
    };
    Ok(Some(LoopGuardSpec {
        moves_per_sec,
        hold_secs,
    }))
}

/// The `[[device]]` tables, each checked as `vswitch dev add` checks its options.
fn devices(
    source: &Source<'_>,
    tables: &[Spanned<toml::Table>],
) -> Result<Vec<DeviceSpec>, ConfigError> {
    let mut devices: Vec<DeviceSpec> = Vec::with_capacity(tables.len());
    for table in tables {
        let device = DeviceSpec::from_table(table.get_ref())
            .and_then(|device| device.validate().map(|()| device))
            .map_err(|reason| source.error(table.span(), format!("[[device]]: {reason}")))?;
        if devices.iter().any(|other| other.name() == device.name()) {
            return Err(source.error(
                table.span(),
                format!("device {} is configured twice", device.name()),
            ));
        }
        devices.push(device);
    }
    Ok(devices)
}

fn port(source: &Source<'_>, section: &Spanned<PortSection>) -> Result<PortSpec, ConfigError> {
    let span = section.span();
    let section = section.get_ref();
    let name = section.name.get_ref().clone();
    check_ifname(&name).map_err(|reason| source.error(section.name.span(), reason))?;
    let existing = section.existing.as_ref().is_some_and(|e| *e.get_ref());
    let kind = match (&section.netns, existing) {
        (Some(netns), true) => {
            return Err(source.error(
                netns.span(),
                "an existing port has no netns: drop `netns` or `existing`",
            ));
        }
        (None, true) => {
            if let Some(address) = section.address.first() {
                return Err(source.error(
                    address.span(),
                    "addresses are only set on ports the switch creates",
                ));
            }
            PortKind::Existing
        }
        (None, false) => {
            return Err(source.error(
                span,
                format!("port {name} needs `netns = \"...\"`, or `existing = true`"),
            ));
        }
        (Some(netns), false) => {
            let (netns, addresses) = veth_end(source, netns, &section.address)?;
            PortKind::Veth { netns, addresses }
        }
    };
    let vlan = vlan_mode(source, section)?;
    let hook = match &section.hook {
        Some(hook) => match hook.get_ref().as_str() {
            "tc" => Hook::Tc,
            "xdp" => Hook::Xdp,
            other => {
                return Err(source.error(
                    hook.span(),
                    format!("hook must be \"tc\" or \"xdp\", not {other:?}"),
                ));
            }
        },
        None if existing => Hook::Xdp,
        None => Hook::Tc,
    };
    let offload = match &section.offload {
        Some(offload) if !existing => {
            return Err(source.error(
                offload.span(),
                "offload needs a device: only `existing = true` ports can offload",
            ));
        }
        Some(offload) => Some(parse_offload(source, offload)?),
        None => None,
    };
    let addresses = match &kind {
        PortKind::Veth { addresses, .. } => addresses.as_slice(),
        PortKind::Existing => &[],
    };
    let mtu = section
        .mtu
        .as_ref()
        .map(|mtu| {
            super::mtu::check(*mtu.get_ref(), hook, addresses)
                .map_err(|reason| source.error(mtu.span(), reason))
        })
        .transpose()?;
    let redirect_peer = match (&section.redirect_peer, &kind) {
        (Some(flag), PortKind::Veth { .. }) => {
            return Err(source.error(
                flag.span(),
                "redirect_peer is for existing veths: the veths the switch creates always deliver to their peer",
            ));
        }
        (Some(flag), PortKind::Existing) => *flag.get_ref(),
        (None, kind) => matches!(kind, PortKind::Veth { .. }),
    };
    let locked = section
        .locked
        .as_ref()
        .is_some_and(|locked| *locked.get_ref());
    let learning = section.learning.unwrap_or(true) && !locked;
    let max_macs = section
        .max_macs
        .as_ref()
        .map(|max| max_macs(source, max, learning))
        .transpose()?;
    let flood_pps = section
        .flood_pps
        .as_ref()
        .map(|pps| {
            u32::try_from(*pps.get_ref())
                .ok()
                .filter(|pps| *pps >= 1)
                .ok_or_else(|| source.error(pps.span(), "flood_pps must be from 1 to 4294967295"))
        })
        .transpose()?;
    let allowed_macs = section
        .allowed_macs
        .iter()
        .map(|mac| super::dispatch::unicast_mac(source, mac))
        .collect::<Result<_, _>>()?;
    Ok(PortSpec {
        name,
        kind,
        vlan,
        hook,
        learning,
        offload,
        mtu,
        redirect_peer,
        max_macs,
        flood_pps,
        locked,
        allowed_macs,
    })
}

/// A port's `max_macs`: a count of entries the FDB can hold, on a port that learns.
fn max_macs(source: &Source<'_>, max: &Spanned<i64>, learning: bool) -> Result<u32, ConfigError> {
    if !learning {
        return Err(source.error(
            max.span(),
            "max_macs limits learning, which this port does not do (locked, or learning = false)",
        ));
    }
    u32::try_from(*max.get_ref())
        .ok()
        .filter(|max| (1..=vswitch_common::FDB_CAPACITY).contains(max))
        .ok_or_else(|| {
            source.error(
                max.span(),
                format!(
                    "max_macs must be from 1 to {} (the FDB's capacity)",
                    vswitch_common::FDB_CAPACITY
                ),
            )
        })
}

fn parse_offload(source: &Source<'_>, offload: &Spanned<String>) -> Result<Offload, ConfigError> {
    offload
        .get_ref()
        .parse()
        .map_err(|reason: String| source.error(offload.span(), reason))
}

fn vlan_mode(source: &Source<'_>, section: &PortSection) -> Result<VlanMode, ConfigError> {
    let vid = |value: &Spanned<i64>| {
        u16::try_from(*value.get_ref())
            .ok()
            .filter(|vid| vlan::is_valid_vid(*vid))
            .ok_or_else(|| source.error(value.span(), "a VLAN ID must be from 1 to 4094"))
    };
    match (&section.vlan, &section.trunk, &section.native_vlan) {
        (Some(access), Some(_), _) => Err(source.error(
            access.span(),
            "a port is either an access port (`vlan`) or a trunk (`trunk`), not both",
        )),
        (_, None, Some(native)) => {
            Err(source.error(native.span(), "native_vlan only applies to a trunk port"))
        }
        (Some(access), None, None) => Ok(VlanMode::Access(vid(access)?)),
        (None, None, None) => Ok(VlanMode::Access(vlan::DEFAULT_VLAN)),
        (None, Some(trunk), native) => {
            let mut vlans = trunk
                .get_ref()
                .iter()
                .map(vid)
                .collect::<Result<Vec<_>, _>>()?;
            if vlans.is_empty() {
                return Err(source.error(trunk.span(), "a trunk needs at least one VLAN"));
            }
            vlans.sort_unstable();
            vlans.dedup();
            let native = native.as_ref().map(vid).transpose()?;
            if let (Some(native_vid), Some(span)) = (native, section.native_vlan.as_ref())
                && vlans.contains(&native_vid)
            {
                return Err(source.error(
                    span.span(),
                    "native_vlan must not also be a tagged VLAN of the trunk",
                ));
            }
            Ok(VlanMode::Trunk { vlans, native })
        }
    }
}

/// The namespace and addresses of a veth end the switch creates, checked.
pub(super) fn veth_end(
    source: &Source<'_>,
    netns: &Spanned<String>,
    addresses: &[Spanned<String>],
) -> Result<(String, Vec<(IpAddr, u8)>), ConfigError> {
    check_netns_name(netns.get_ref()).map_err(|reason| source.error(netns.span(), reason))?;
    let addresses = addresses
        .iter()
        .map(|address| {
            parse_cidr(address.get_ref()).map_err(|reason| source.error(address.span(), reason))
        })
        .collect::<Result<_, _>>()?;
    Ok((netns.get_ref().clone(), addresses))
}

/// Checks an interface name the way the kernel does.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > IFNAME_MAX {
        return Err(format!(
            "interface name {name:?} must be 1 to {IFNAME_MAX} bytes"
        ));
    }
    if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        return Err(format!(
            "interface name {name:?} must not contain '/', ':' or spaces"
        ));
    }
    Ok(())
}

/// Checks an instance name: it names a directory and prefixes nothing else.
pub fn check_instance_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "switch name {name:?} must be 1 to 32 letters, digits, '-' or '_'"
        ))
    }
}

pub(crate) fn check_netns_name(name: &str) -> Result<(), String> {
    let valid =
        !name.is_empty() && name.len() <= 64 && name != "." && name != ".." && !name.contains('/');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "netns name {name:?} must be 1 to 64 bytes without '/'"
        ))
    }
}

pub(crate) fn parse_cidr(text: &str) -> Result<(IpAddr, u8), String> {
    let invalid = || format!("address {text:?} must look like 10.0.0.1/24 or fd00::1/64");
    let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
    let address: IpAddr = address.parse().map_err(|_| invalid())?;
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(format!("prefix length /{prefix} is longer than {max}"));
    }
    Ok((address, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        validate(Path::new("t.toml"), text).map_err(|error| error.to_string())
    }

    #[test]
    fn demo_config_is_valid_and_has_three_hosts() {
        let config = Config::demo();
        assert_eq!(config.ports.len(), 3);
        assert!(config.ports.iter().all(|port| port.hook == Hook::Tc));
    }

    #[test]
    fn empty_config_is_an_empty_switch() {
        let config = parse("").unwrap();
        assert_eq!(config.name, DEFAULT_NAME);
        assert!(config.ports.is_empty());
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let text =
            "[switch]\nname = \"a\"\n\n[[port]]\nname = \"p1\"\nnetns = \"n\"\nvlan = 5000\n";
        assert_eq!(
            parse(text).unwrap_err(),
            "t.toml:7: a VLAN ID must be from 1 to 4094"
        );
    }

    #[test]
    fn device_tables_are_checked_with_their_line() {
        let config = parse("[[device]]\nkind = \"dummy\"\nname = \"d0\"\n").unwrap();
        assert_eq!(config.devices[0].name(), "d0");
        let error =
            parse("[[device]]\nkind = \"dummy\"\nname = \"d0\"\n\n[[device]]\nkind = \"ifb\"\nname = \"d0\"\n")
                .unwrap_err();
        assert_eq!(error, "t.toml:5: device d0 is configured twice");
        let error = parse("[[device]]\nname = \"d0\"\n").unwrap_err();
        assert!(
            error.starts_with("t.toml:1: [[device]]: a device needs `kind"),
            "{error}"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let error = parse("[switch]\nname = \n").unwrap_err();
        assert!(error.starts_with("t.toml:2: "), "{error}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = parse("[[port]]\nname = \"p\"\nnetns = \"n\"\ncolour = 1\n").unwrap_err();
        assert!(
            error.starts_with("t.toml:4: unknown field `colour`"),
            "{error}"
        );
    }

    #[test]
    fn duplicate_ports_and_netns_are_refused() {
        let twice =
            "[[port]]\nname = \"p\"\nnetns = \"a\"\n[[port]]\nname = \"p\"\nnetns = \"b\"\n";
        assert_eq!(
            parse(twice).unwrap_err(),
            "t.toml:5: port p is configured twice"
        );
        let shared =
            "[[port]]\nname = \"p\"\nnetns = \"a\"\n[[port]]\nname = \"q\"\nnetns = \"a\"\n";
        assert!(parse(shared).unwrap_err().starts_with("t.toml:4: netns a"));
    }

    #[test]
    fn trunk_and_access_are_exclusive_and_trunks_are_sorted() {
        let both = "[[port]]\nname = \"p\"\nnetns = \"a\"\nvlan = 2\ntrunk = [3]\n";
        assert!(
            parse(both)
                .unwrap_err()
                .starts_with("t.toml:4: a port is either")
        );
        let trunk =
            "[[port]]\nname = \"p\"\nnetns = \"a\"\ntrunk = [20, 10, 20]\nnative_vlan = 1\n";
        assert_eq!(
            parse(trunk).unwrap().ports[0].vlan,
            VlanMode::Trunk {
                vlans: vec![10, 20],
                native: Some(1)
            }
        );
    }

    #[test]
    fn bad_names_and_addresses_are_refused() {
        let long = "[[port]]\nname = \"abcdefghijklmnop\"\nnetns = \"a\"\n";
        assert!(
            parse(long)
                .unwrap_err()
                .starts_with("t.toml:2: interface name")
        );
        let address = "[[port]]\nname = \"p\"\nnetns = \"a\"\naddress = [\"10.0.0.1\"]\n";
        assert!(parse(address).unwrap_err().starts_with("t.toml:4: address"));
        let prefix = "[[port]]\nname = \"p\"\nnetns = \"a\"\naddress = [\"10.0.0.1/33\"]\n";
        assert!(
            parse(prefix)
                .unwrap_err()
                .starts_with("t.toml:4: prefix length")
        );
    }

    #[test]
    fn vxlan_sections_are_parsed_and_checked() {
        let base = "[[port]]\nname = \"vp1\"\nnetns = \"a\"\nvlan = 10\n\
                    [[vxlan]]\nvni = 100\nvlan = 10\nlocal = \"192.0.2.1\"\n\
                    remotes = [\"192.0.2.2\"]\nunderlay = \"up0\"\n";
        let config = parse(base).unwrap();
        let tunnel = &config.vxlans[0];
        assert_eq!((tunnel.vni, tunnel.vlan, tunnel.dstport), (100, 10, 4789));
        assert!(tunnel.learning);
        assert_eq!(config.tunnel_of(10), Some(tunnel));
        let twice = format!(
            "{base}[[vxlan]]\nvni = 100\nvlan = 20\nlocal = \"192.0.2.1\"\nunderlay = \"up0\"\n"
        );
        assert_eq!(
            parse(&twice).unwrap_err(),
            "t.toml:11: VNI 100 is configured twice"
        );
        let family = base.replace("[\"192.0.2.2\"]", "[\"fd00::2\"]");
        assert!(
            parse(&family)
                .unwrap_err()
                .starts_with("t.toml:9: remote fd00::2 is not of the same IP version"),
        );
        let vni = base.replace("vni = 100", "vni = 16777216");
        assert_eq!(
            parse(&vni).unwrap_err(),
            "t.toml:6: vni must be from 1 to 16777215"
        );
        let xdp = base.replace(
            "vlan = 10\n[[vxlan]]",
            "vlan = 10\nhook = \"xdp\"\n[[vxlan]]",
        );
        assert!(
            parse(&xdp)
                .unwrap_err()
                .starts_with("t.toml:1: port vp1 runs on the XDP hook"),
        );
        let underlay_port = base.replace("underlay = \"up0\"", "underlay = \"vp1\"");
        assert!(
            parse(&underlay_port)
                .unwrap_err()
                .starts_with("t.toml:10: vp1 is a port of the switch"),
        );
    }

    #[test]
    fn a_switch_wide_max_macs_is_parsed_and_checked() {
        assert_eq!(parse("").unwrap().max_macs, None);
        let config = parse("[switch]\nmax_macs = 1000\n").unwrap();
        assert_eq!(config.max_macs, Some(1000));
        assert_eq!(
            parse("[switch]\nmax_macs = 2000000\n").unwrap_err(),
            "t.toml:2: max_macs must be from 1 to 1048576 (the FDB's capacity)"
        );
    }

    #[test]
    fn the_loop_guard_is_parsed_and_checked() {
        assert_eq!(parse("").unwrap().loop_guard, None);
        let guard = parse("[switch]\nloop_guard_moves = 50\n")
            .unwrap()
            .loop_guard;
        assert_eq!(
            guard,
            Some(LoopGuardSpec {
                moves_per_sec: 50,
                hold_secs: LoopGuardSpec::DEFAULT_HOLD_SECS
            })
        );
        let held = parse("[switch]\nloop_guard_moves = 50\nloop_guard_hold_secs = 3\n").unwrap();
        assert_eq!(held.loop_guard.map(|guard| guard.hold_secs), Some(3));
        assert_eq!(
            parse("[switch]\nloop_guard_hold_secs = 3\n").unwrap_err(),
            "t.toml:2: loop_guard_hold_secs needs loop_guard_moves, which turns the loop guard on"
        );
        assert_eq!(
            parse("[switch]\nloop_guard_moves = 0\n").unwrap_err(),
            "t.toml:2: loop_guard_moves must be from 1 to 4294967295"
        );
    }

    #[test]
    fn port_defences_are_parsed_and_checked() {
        let base = "[[port]]\nname = \"p\"\nnetns = \"a\"\n";
        let port = parse(&format!(
            "{base}locked = true\nallowed_macs = [\"02:00:00:00:00:03\"]\n"
        ))
        .unwrap()
        .ports
        .remove(0);
        assert!(port.locked && !port.learning);
        assert_eq!(port.allowed_macs, vec![[2, 0, 0, 0, 0, 3]]);
        let limited = parse(&format!("{base}max_macs = 64\nflood_pps = 100\n")).unwrap();
        assert_eq!(limited.ports[0].max_macs, Some(64));
        assert_eq!(limited.ports[0].flood_pps, Some(100));
        assert_eq!(
            parse(&format!("{base}flood_pps = -1\n")).unwrap_err(),
            "t.toml:4: flood_pps must be from 1 to 4294967295"
        );
        assert_eq!(
            parse(&format!("{base}max_macs = 0\n")).unwrap_err(),
            "t.toml:4: max_macs must be from 1 to 1048576 (the FDB's capacity)"
        );
        assert!(
            parse(&format!("{base}locked = true\nmax_macs = 5\n"))
                .unwrap_err()
                .starts_with("t.toml:5: max_macs limits learning")
        );
        assert!(
            parse(&format!("{base}allowed_macs = [\"ff:ff:ff:ff:ff:ff\"]\n"))
                .unwrap_err()
                .starts_with("t.toml:4: \"ff:ff:ff:ff:ff:ff\" must be a unicast MAC")
        );
    }

    #[test]
    fn offload_is_parsed_and_only_existing_ports_take_it() {
        let config = parse(
            "[switch]\noffload = \"xdp\"\n[[port]]\nname = \"up0\"\nexisting = true\n\
             [[port]]\nname = \"up1\"\nexisting = true\noffload = \"tc-required\"\n\
             [[port]]\nname = \"vp1\"\nnetns = \"a\"\n",
        )
        .unwrap();
        let offloads: Vec<String> = config
            .ports
            .iter()
            .map(|port| config.port_offload(port).to_string())
            .collect();
        assert_eq!(offloads, ["xdp", "tc-required", "off"]);
        assert_eq!(
            parse("[switch]\noffload = \"hw\"\n").unwrap_err(),
            "t.toml:2: offload \"hw\" is not one of \"off\", \"xdp\", \"tc\", \"xdp-required\" \
             or \"tc-required\""
        );
        assert_eq!(
            parse("[[port]]\nname = \"vp1\"\nnetns = \"a\"\noffload = \"xdp\"\n").unwrap_err(),
            "t.toml:4: offload needs a device: only `existing = true` ports can offload"
        );
    }

    #[test]
    fn mtu_is_checked_with_the_port_it_belongs_to() {
        let jumbo = "[[port]]\nname = \"vp1\"\nnetns = \"a\"\nmtu = 9000\n";
        assert_eq!(parse(jumbo).unwrap().ports[0].mtu, Some(9000));
        assert_eq!(
            parse("[[port]]\nname = \"vp1\"\nnetns = \"a\"\n")
                .unwrap()
                .ports[0]
                .mtu,
            None
        );
        assert_eq!(
            parse("[[port]]\nname = \"vp1\"\nnetns = \"a\"\n\nmtu = 65536\n").unwrap_err(),
            "t.toml:5: mtu must be from 68 to 65535"
        );
        // An existing port runs XDP unless told otherwise.
        let uplink = "[[port]]\nname = \"up0\"\nexisting = true\nmtu = 9000\n";
        assert!(
            parse(uplink)
                .unwrap_err()
                .starts_with("t.toml:4: mtu 9000 is more than an XDP port takes")
        );
        let tc_uplink = "[[port]]\nname = \"up0\"\nexisting = true\nhook = \"tc\"\nmtu = 9000\n";
        assert_eq!(parse(tc_uplink).unwrap().ports[0].mtu, Some(9000));
        let v6 =
            "[[port]]\nname = \"vp1\"\nnetns = \"a\"\naddress = [\"fd00::1/64\"]\nmtu = 1000\n";
        assert!(
            parse(v6)
                .unwrap_err()
                .starts_with("t.toml:5: mtu 1000 is too small for an IPv6 address")
        );
    }

    #[test]
    fn existing_ports_default_to_xdp_and_refuse_netns() {
        let config = parse("[[port]]\nname = \"up0\"\nexisting = true\n").unwrap();
        assert_eq!(config.ports[0].kind, PortKind::Existing);
        assert_eq!(config.ports[0].hook, Hook::Xdp);
        let both = "[[port]]\nname = \"up0\"\nexisting = true\nnetns = \"a\"\n";
        assert!(
            parse(both)
                .unwrap_err()
                .starts_with("t.toml:4: an existing port")
        );
    }

    #[test]
    fn redirect_peer_is_for_existing_veths_and_implied_for_created_ones() {
        let existing = "[[port]]\nname = \"vc1\"\nexisting = true\nhook = \"tc\"\n";
        assert!(!parse(existing).unwrap().ports[0].redirect_peer);
        let flagged = format!("{existing}redirect_peer = true\n");
        assert!(parse(&flagged).unwrap().ports[0].redirect_peer);
        let created = "[[port]]\nname = \"vp1\"\nnetns = \"a\"\n";
        assert!(parse(created).unwrap().ports[0].redirect_peer);
        let refused = format!("{created}redirect_peer = true\n");
        assert!(
            parse(&refused)
                .unwrap_err()
                .starts_with("t.toml:4: redirect_peer is for existing veths")
        );
    }
}
