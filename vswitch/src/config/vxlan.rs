//! `[[vxlan]]`: a switch VLAN carried over a VXLAN network identifier, with the switch as a
//! VTEP on an underlay interface.

use std::net::IpAddr;

use toml::Spanned;
use vswitch_common::{
    vlan,
    vxlan::{DEFAULT_PORT, MAX_REMOTES, MAX_TUNNELS, MAX_VNI},
};

use super::{
    Hook, PortSpec, VxlanSpec,
    file::VxlanSection,
    validate::{ConfigError, Source, check_ifname},
};

/// Validates every `[[vxlan]]` section, against each other and against the ports.
pub(super) fn tunnels(
    source: &Source<'_>,
    sections: &[Spanned<VxlanSection>],
    ports: &[PortSpec],
) -> Result<Vec<VxlanSpec>, ConfigError> {
    if sections.len() > MAX_TUNNELS as usize {
        return Err(source.error(
            sections[MAX_TUNNELS as usize].span(),
            format!("at most {MAX_TUNNELS} [[vxlan]] sections are supported"),
        ));
    }
    let mut tunnels: Vec<VxlanSpec> = Vec::with_capacity(sections.len());
    for section in sections {
        let tunnel = tunnel(source, section.get_ref())?;
        let span = section.span();
        if tunnels.iter().any(|other| other.vni == tunnel.vni) {
            return Err(source.error(span, format!("VNI {} is configured twice", tunnel.vni)));
        }
        if let Some(other) = tunnels.iter().find(|other| other.vlan == tunnel.vlan) {
            return Err(source.error(
                span,
                format!(
                    "VLAN {} is already carried by VNI {}: one VNI per VLAN",
                    tunnel.vlan, other.vni
                ),
            ));
        }
        if let Some(other) = tunnels
            .iter()
            .find(|other| other.underlay == tunnel.underlay && other.dstport != tunnel.dstport)
        {
            return Err(source.error(
                span,
                format!(
                    "underlay {} already receives VXLAN on port {} (VNI {}): one dstport per \
                     underlay",
                    tunnel.underlay, other.dstport, other.vni
                ),
            ));
        }
        if ports.iter().any(|port| port.name == tunnel.underlay) {
            return Err(source.error(
                section.get_ref().underlay.span(),
                format!(
                    "{} is a port of the switch: the underlay carries the host's own traffic and \
                     must not be switched; use another interface",
                    tunnel.underlay
                ),
            ));
        }
        tunnels.push(tunnel);
    }
    Ok(tunnels)
}

fn tunnel(source: &Source<'_>, section: &VxlanSection) -> Result<VxlanSpec, ConfigError> {
    let vni = u32::try_from(*section.vni.get_ref())
        .ok()
        .filter(|vni| (1..=MAX_VNI).contains(vni))
        .ok_or_else(|| {
            source.error(
                section.vni.span(),
                format!("vni must be from 1 to {MAX_VNI}"),
            )
        })?;
    let vlan = match &section.vlan {
        Some(value) => u16::try_from(*value.get_ref())
            .ok()
            .filter(|vid| vlan::is_valid_vid(*vid))
            .ok_or_else(|| source.error(value.span(), "a VLAN ID must be from 1 to 4094"))?,
        None => vlan::DEFAULT_VLAN,
    };
    let address = |value: &Spanned<String>| {
        value.get_ref().parse::<IpAddr>().map_err(|_| {
            source.error(
                value.span(),
                format!("{:?} is not an IP address", value.get_ref()),
            )
        })
    };
    let local = address(&section.local)?;
    if local.is_unspecified() || local.is_multicast() {
        return Err(source.error(
            section.local.span(),
            "local must be a unicast address of this host",
        ));
    }
    let mut remotes = Vec::with_capacity(section.remotes.len());
    for value in &section.remotes {
        let remote = address(value)?;
        if remote.is_ipv4() != local.is_ipv4() {
            return Err(source.error(
                value.span(),
                format!("remote {remote} is not of the same IP version as local {local}"),
            ));
        }
        if remote == local || remote.is_unspecified() || remote.is_multicast() {
            return Err(source.error(
                value.span(),
                format!("remote {remote} must be another host's unicast address"),
            ));
        }
        if remotes.contains(&remote) {
            return Err(source.error(value.span(), format!("remote {remote} is listed twice")));
        }
        remotes.push(remote);
    }
    if remotes.len() > MAX_REMOTES {
        return Err(source.error(
            section.remotes[MAX_REMOTES].span(),
            format!("at most {MAX_REMOTES} remotes per VNI are supported"),
        ));
    }
    let underlay = section.underlay.get_ref().clone();
    check_ifname(&underlay).map_err(|reason| source.error(section.underlay.span(), reason))?;
    let dstport = match &section.dstport {
        Some(value) => u16::try_from(*value.get_ref())
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| source.error(value.span(), "dstport must be from 1 to 65535"))?,
        None => DEFAULT_PORT,
    };
    Ok(VxlanSpec {
        vni,
        vlan,
        local,
        remotes,
        underlay,
        dstport,
        learning: section.learning.unwrap_or(true),
    })
}

/// Why `port` cannot be a member of the VLANs that `tunnels` carry, if it cannot: the XDP
/// path does not encapsulate.
pub fn tunnel_conflict(tunnels: &[VxlanSpec], port: &PortSpec) -> Option<String> {
    if port.hook != Hook::Xdp {
        return None;
    }
    let members = port.vlan.members();
    let tunnel = tunnels
        .iter()
        .find(|tunnel| members.contains(&tunnel.vlan))?;
    Some(format!(
        "port {} runs on the XDP hook, which does not encapsulate, but VLAN {} is carried by \
         VNI {}: use hook = \"tc\" for ports of VXLAN VLANs",
        port.name, tunnel.vlan, tunnel.vni
    ))
}
