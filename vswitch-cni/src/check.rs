//! CHECK: the attachment the previous ADD returned is still in place.

use std::{net::IpAddr, path::PathBuf};

use netlink_packet_route::address::AddressAttribute;
use vswitch::netlink::Links;

use crate::{
    config::{NetConf, format_mac},
    env::Attachment,
    error::{CniError, Code},
    ipam::Delegate,
    netns::ContainerNetns,
    record::port_name,
    result::{CniResult, parse_cidr},
    switch,
};

/// Verifies the host end, its port in the switch, the container's interface with its MAC and
/// addresses (routes may have been changed by later plugins of a chain), and the delegate's
/// allocation.
pub async fn check(
    config: &NetConf,
    attachment: &Attachment,
    cni_path: &[PathBuf],
) -> Result<(), CniError> {
    let previous: CniResult = config
        .prev_result
        .clone()
        .ok_or_else(|| CniError::new(Code::InvalidConfig, "CHECK needs prevResult"))
        .and_then(|value| {
            serde_json::from_value(value).map_err(|error| {
                CniError::caused(Code::Decode, "prevResult is not a CNI result", &error)
            })
        })?;
    let failed = |message: String| CniError::new(Code::Failed, message);
    let port = port_name(&config.name, &attachment.container_id, &attachment.ifname);
    let state = switch::running(&config.switch, Code::Failed)?;
    if !state.ports.iter().any(|record| record.name == port) {
        return Err(failed(format!(
            "port {port} is not in switch {}",
            config.switch
        )));
    }
    if Links::connect()?.index(&port).await?.is_none() {
        return Err(failed(format!("the host end {port} is gone")));
    }
    let netns_path = attachment
        .netns
        .as_deref()
        .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_NETNS is not set"))?;
    let inside = ContainerNetns::open(netns_path)?.links;
    let index = inside.index(&attachment.ifname).await?.ok_or_else(|| {
        failed(format!(
            "interface {} is gone from the container",
            attachment.ifname
        ))
    })?;
    let expected_mac = previous
        .interfaces
        .iter()
        .find(|interface| interface.name == attachment.ifname && interface.sandbox.is_some())
        .and_then(|interface| interface.mac.clone());
    let mac = inside.mac(index).await?.as_ref().map(format_mac);
    if expected_mac.is_some() && mac != expected_mac {
        return Err(failed(format!(
            "{} has MAC {}, the ADD result says {}",
            attachment.ifname,
            mac.unwrap_or_default(),
            expected_mac.unwrap_or_default()
        )));
    }
    let present: Vec<(IpAddr, u8)> = inside
        .addresses()
        .await?
        .into_iter()
        .filter(|message| message.header.index == index)
        .filter_map(|message| {
            let prefix_len = message.header.prefix_len;
            message
                .attributes
                .iter()
                .find_map(|attribute| match attribute {
                    AddressAttribute::Address(address) => Some((*address, prefix_len)),
                    _ => None,
                })
        })
        .collect();
    for ip in &previous.ips {
        let wanted = parse_cidr(&ip.address).ok_or_else(|| {
            CniError::new(Code::Decode, format!("prevResult address {:?}", ip.address))
        })?;
        if !present.contains(&wanted) {
            return Err(failed(format!(
                "{} lacks its address {}",
                attachment.ifname, ip.address
            )));
        }
    }
    if let Some(ipam) = &config.ipam {
        Delegate::find(&ipam.plugin, cni_path)?.check(config, attachment)?;
    }
    Ok(())
}
