//! A port's MTU, set on its interfaces when the port is added, when a reload changes it, and
//! when it differs from what the previous agent set; each change is a step of its transaction.
//!
//! A veth the switch created has the port's `mtu` on both ends, the kernel's 1500 without one.
//! An existing interface gets the port's `mtu` when it has one and otherwise keeps its own: the
//! switch does not restore an existing interface's MTU when the port goes.
//!
//! A port in a VLAN that a VXLAN tunnel carries must not send frames that the underlay cannot
//! carry once encapsulated: its `mtu` may be at most the underlay's MTU less the encapsulation
//! overhead (refused otherwise), and a created veth without one gets exactly that.

use super::{
    AgentError, PEER_NAME, Switch,
    transaction::{Step, Transaction},
};
use crate::{
    config::{PortKind, PortSpec, mtu},
    netlink::Links,
};

impl Switch {
    /// Gives the interfaces of port `spec` (`ifindex` on the switch side) the MTU it asks for
    /// (or, without one, the one its tunnels allow), unless that is what was set before
    /// (`applied`: the previous `mtu` of the port, `None` for a new one, while no tunnel
    /// constrains it). Each interface whose MTU changes is a step of `transaction`.
    pub(super) async fn apply_mtu(
        &self,
        spec: &PortSpec,
        ifindex: u32,
        applied: Option<u32>,
        transaction: &mut Transaction,
    ) -> Result<(), AgentError> {
        let limit = self.tunnel_mtu_limit(spec).await?;
        if spec.mtu == applied && limit.is_none() {
            return Ok(());
        }
        let wanted = match (spec.mtu, limit) {
            (Some(asked), Some(limit)) if asked > limit.mtu => {
                return Err(AgentError::Refused(format!(
                    "port {} has mtu {asked}, but {}",
                    spec.name, limit.reason
                )));
            }
            (Some(asked), _) => Some(asked),
            (None, limit) => limit.map(|limit| limit.mtu),
        };
        match &spec.kind {
            PortKind::Veth { netns, .. } => {
                let wanted = wanted.unwrap_or(mtu::VETH_DEFAULT);
                let inside = Links::connect_in(netns)?;
                let peer = inside.require(PEER_NAME).await?;
                set_mtu(&self.links, None, ifindex, wanted, transaction).await?;
                set_mtu(&inside, Some(netns), peer, wanted, transaction).await?;
            }
            PortKind::Existing => {
                if let Some(wanted) = spec.mtu {
                    set_mtu(&self.links, None, ifindex, wanted, transaction).await?;
                }
            }
        }
        Ok(())
    }

    /// Undoes a [`Step::Mtu`]: gives interface `ifindex` (in `netns`, or the switch's namespace)
    /// its MTU `mtu` back.
    pub(super) async fn restore_mtu(
        &self,
        netns: Option<&str>,
        ifindex: u32,
        mtu: u32,
    ) -> Result<(), AgentError> {
        match netns {
            Some(netns) => Links::connect_in(netns)?.set_mtu(ifindex, mtu).await?,
            None => self.links.set_mtu(ifindex, mtu).await?,
        }
        Ok(())
    }
}

/// Sets the MTU of interface `index` of `links` (a connection to `netns`, or the switch's own)
/// to `mtu` if it has another, recording the one it had in `transaction`.
async fn set_mtu(
    links: &Links,
    netns: Option<&str>,
    index: u32,
    mtu: u32,
    transaction: &mut Transaction,
) -> Result<(), AgentError> {
    let before = links.mtu(index).await?;
    if before == Some(mtu) {
        return Ok(());
    }
    links.set_mtu(index, mtu).await?;
    if let Some(before) = before {
        transaction.push(Step::Mtu {
            netns: netns.map(str::to_string),
            ifindex: index,
            mtu: before,
        });
    }
    Ok(())
}
