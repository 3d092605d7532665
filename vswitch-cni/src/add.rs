//! ADD: a veth whose host end joins the switch and whose other end, with the IPAM delegate's
//! addresses and routes, is the container's interface.

use std::{net::IpAddr, path::PathBuf};

use rtnetlink::LinkUnspec;
use vswitch::netlink::Links;

use crate::{
    config::{NetConf, format_mac},
    env::Attachment,
    error::{CniError, Code},
    ipam::Delegate,
    netns::ContainerNetns,
    record::{Record, Records, port_name},
    result::{CniResult, Interface, IpConfig, parse_cidr},
    switch,
};

/// Index of the container's interface in the result's `interfaces`.
const CONTAINER_INTERFACE: usize = 1;

/// Attaches the container and returns the result. On failure everything done so far is
/// undone: the veth deleted, the addresses released.
pub async fn add(
    config: &NetConf,
    attachment: &Attachment,
    cni_path: &[PathBuf],
) -> Result<CniResult, CniError> {
    // Nothing is allocated for a switch that is not there, or not here.
    let state = switch::running(&config.switch, Code::TryAgainLater)?;
    switch::require_same_netns(&config.switch, &state)?;
    let netns_path = attachment
        .netns
        .as_deref()
        .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_NETNS is not set"))?;
    let netns = ContainerNetns::open(netns_path)?;
    let port = port_name(&config.name, &attachment.container_id, &attachment.ifname);
    let host = Links::connect()?;
    if host.index(&port).await?.is_some() {
        return Err(CniError::new(
            Code::Failed,
            format!(
                "interface {port} for container {} ({}) already exists: DEL it first",
                attachment.container_id, attachment.ifname
            ),
        ));
    }
    let delegate = config
        .ipam
        .as_ref()
        .map(|ipam| Delegate::find(&ipam.plugin, cni_path))
        .transpose()?;
    let allocated = match &delegate {
        Some(delegate) => delegate.add(config, attachment)?,
        None => CniResult::default(),
    };
    match attach(config, attachment, &netns, &host, &port, allocated).await {
        Ok(result) => Ok(result),
        Err(error) => {
            // Best effort: the first error is the one to report.
            let _ = switch::remove_port(&config.switch, &port).await;
            if let Some(delegate) = &delegate {
                let _ = delegate.del(config, attachment);
            }
            Err(error)
        }
    }
}

async fn attach(
    config: &NetConf,
    attachment: &Attachment,
    netns: &ContainerNetns,
    host: &Links,
    port: &str,
    allocated: CniResult,
) -> Result<CniResult, CniError> {
    let host_index = host
        .create_veth(port, &netns.file, &attachment.ifname)
        .await?;
    let inside = &netns.links;
    let index = inside.require(&attachment.ifname).await?;
    if let Some(mac) = config.mac {
        inside
            .set(
                LinkUnspec::new_with_index(index)
                    .address(mac.to_vec())
                    .build(),
                &format!("setting the MAC address of {}", attachment.ifname),
            )
            .await?;
    }
    if let Some(mtu) = config.mtu {
        inside.set_mtu(index, mtu).await?;
    }
    let mut ips = Vec::new();
    for ip in &allocated.ips {
        let (address, prefix_len) = parse_cidr(&ip.address).ok_or_else(|| bad_ipam(&ip.address))?;
        inside.add_address(index, address, prefix_len).await?;
        ips.push(IpConfig {
            interface: Some(CONTAINER_INTERFACE),
            ..ip.clone()
        });
    }
    inside.set_up(index).await?;
    for route in &allocated.routes {
        let (destination, prefix_len) =
            parse_cidr(&route.dst).ok_or_else(|| bad_ipam(&route.dst))?;
        let gateway = match &route.gw {
            Some(gw) => Some(gw.parse::<IpAddr>().map_err(|_| bad_ipam(gw))?),
            None => gateway_for(&allocated.ips, destination.is_ipv4()),
        };
        inside
            .add_route(index, destination, prefix_len, gateway)
            .await?;
    }
    host.set_up(host_index).await?;
    switch::add_port(config, port).await?;
    Records::new(&config.data_dir, &config.name).save(&Record {
        container_id: attachment.container_id.clone(),
        ifname: attachment.ifname.clone(),
        switch: config.switch.clone(),
        port: port.to_string(),
    })?;
    // Interfaces carry their MTU from spec 1.1.0 on.
    let mtu = config.mtu.filter(|_| config.cni_version != "1.0.0");
    Ok(CniResult {
        cni_version: config.cni_version.clone(),
        interfaces: vec![
            Interface {
                name: port.to_string(),
                mac: host.mac(host_index).await?.as_ref().map(format_mac),
                mtu,
                sandbox: None,
            },
            Interface {
                name: attachment.ifname.clone(),
                mac: inside.mac(index).await?.as_ref().map(format_mac),
                mtu,
                sandbox: attachment
                    .netns
                    .as_ref()
                    .map(|path| path.display().to_string()),
            },
        ],
        ips,
        routes: allocated.routes,
        dns: if allocated.dns.is_null() {
            config.dns.clone().unwrap_or_default()
        } else {
            allocated.dns
        },
    })
}

/// The gateway of the first address of the family, for routes that name none.
fn gateway_for(ips: &[IpConfig], ipv4: bool) -> Option<IpAddr> {
    ips.iter()
        .filter_map(|ip| ip.gateway.as_deref()?.parse::<IpAddr>().ok())
        .find(|gateway| gateway.is_ipv4() == ipv4)
}

fn bad_ipam(value: &str) -> CniError {
    CniError::new(
        Code::Decode,
        format!("the IPAM plugin returned {value:?}, which is not an address or prefix"),
    )
}
