//! Ports joining and leaving a running switch, each change a transaction.

use std::path::PathBuf;

use aya::programs::ProgramFd;
use vswitch_common::port::FloodSet;

use super::{
    AgentError, Attached, LinkRole, PEER_NAME, Port, Switch, flood_groups, flood_sets, pending,
    transaction::{Step, Transaction},
};
use crate::{
    config::{Config, Hook, PortKind, PortSpec},
    datapath::{Attachment, DatapathError},
    netlink::{Created, Journal, Links, netns},
    state,
};

impl Switch {
    /// Adds a port to the running switch, without disturbing the others.
    pub async fn add_port(&mut self, spec: PortSpec) -> Result<(), AgentError> {
        let config = self.current();
        let name = spec.name.clone();
        self.add_port_unpublished(spec, &config).await?;
        self.live_ports.push(name);
        self.publish()?;
        Ok(())
    }

    /// Removes port `name` and what it created, without disturbing the others.
    pub async fn remove_port(&mut self, name: &str) -> Result<(), AgentError> {
        if !self.ports.iter().any(|port| port.spec.name == name) {
            return Err(AgentError::Refused(format!("switch has no port {name}")));
        }
        self.remove_port_unpublished(name).await?;
        self.live_ports.retain(|live| live != name);
        self.publish()?;
        Ok(())
    }

    /// Adds `spec` as one transaction; `config` is the desired state it joins, checked first.
    pub(super) async fn add_port_unpublished(
        &mut self,
        spec: PortSpec,
        config: &Config,
    ) -> Result<(), AgentError> {
        if self.ports.iter().any(|port| port.spec.name == spec.name) {
            return Err(AgentError::Refused(format!(
                "port {} is already on the switch",
                spec.name
            )));
        }
        let mut check = self.current();
        check.ports.push(spec.clone());
        check.check_ports().map_err(AgentError::Refused)?;
        let mut transaction = Transaction::default();
        match self
            .try_add_port(&spec, config.port_offload(&spec), &mut transaction)
            .await
        {
            Ok(attached) => {
                transaction.commit();
                self.attached.insert(spec.name.clone(), attached);
                Ok(())
            }
            Err(error) => {
                self.rollback(transaction).await;
                Err(error)
            }
        }
    }

    /// The steps of adding `spec`, each recorded in `transaction`; what the port keeps once the
    /// transaction commits.
    pub(super) async fn try_add_port(
        &mut self,
        spec: &PortSpec,
        offload: crate::offload::Offload,
        transaction: &mut Transaction,
    ) -> Result<Attached, AgentError> {
        let slot = self.slots.allocate().ok_or_else(|| {
            AgentError::Refused(format!(
                "the switch has all {} ports",
                vswitch_common::MAX_PORTS - 1
            ))
        })?;
        transaction.push(Step::Slot(slot));
        self.maps.reset_stats(slot)?;
        let mut created = Journal::default();
        let result = self.create_port(spec, &mut created).await;
        transaction.push(Step::Devices(created));
        let (ifindex, peer) = result?;
        self.apply_mtu(spec, ifindex, None, transaction).await?;
        let port = Port {
            spec: spec.clone(),
            ifindex,
            slot,
        };
        let egress = self.egress()?;
        self.maps.set_port(ifindex, port.config(), &egress)?;
        transaction.push(Step::PortMaps(ifindex));
        self.write_allowed(&port, None)?;
        let program = self.attach(spec, ifindex)?;
        transaction.push(Step::Attachment(program));
        if spec.hook == Hook::Xdp {
            self.stub_every_peer(transaction).await?;
        }
        if let (PortKind::Veth { netns, .. }, Some(peer)) = (&spec.kind, peer)
            && (spec.hook == Hook::Xdp || self.has_xdp_port())
        {
            let pin = self.link_pin(&spec.name, LinkRole::Pass);
            let stub = self.programs.attach_pass_in(netns, peer, &pin)?;
            transaction.push(Step::Attachment(stub));
        }
        self.offloads
            .apply(&spec.name, ifindex, spec.hook, offload, port.config())
            .await?;
        transaction.push(Step::Offload(ifindex));
        self.ports.push(port);
        transaction.push(Step::Listed(spec.name.clone()));
        self.write_flood_sets(transaction)?;
        let created = transaction.take_devices();
        // The program's link, then the pass-through stub's if there is one.
        let mut attachments = transaction.take_attachments().into_iter();
        Ok(Attached {
            program: attachments.next(),
            stub: attachments.next(),
            created,
        })
    }

    /// Whether any port, or the one being added, runs the XDP program.
    pub(super) fn has_xdp_port(&self) -> bool {
        self.ports.iter().any(|port| port.spec.hook == Hook::Xdp)
    }

    /// Attaches the pass-through program to the veth peers that lack it, so that native XDP
    /// redirects into them are delivered (the first XDP port needs it on every veth).
    pub(super) async fn stub_every_peer(
        &mut self,
        transaction: &mut Transaction,
    ) -> Result<(), AgentError> {
        let pending: Vec<(String, String)> = self
            .ports
            .iter()
            .filter(|port| {
                self.attached
                    .get(&port.spec.name)
                    .is_some_and(|attached| attached.stub.is_none())
            })
            .filter_map(|port| match &port.spec.kind {
                PortKind::Veth { netns, .. } => Some((port.spec.name.clone(), netns.clone())),
                PortKind::Existing => None,
            })
            .collect();
        for (name, netns) in pending {
            let peer = Links::connect_in(&netns)?.require(PEER_NAME).await?;
            let pin = self.link_pin(&name, LinkRole::Pass);
            let stub = self.programs.attach_pass_in(&netns, peer, &pin)?;
            if let Some(attached) = self.attached.get_mut(&name) {
                attached.stub = Some(stub);
                transaction.push(Step::Stub(name));
            }
        }
        Ok(())
    }

    /// Changes a port's VLANs, learning, offload or MTU in place (same interface, same hook).
    pub(super) async fn update_port(
        &mut self,
        spec: PortSpec,
        config: &Config,
    ) -> Result<(), AgentError> {
        let Some(position) = self
            .ports
            .iter()
            .position(|port| port.spec.name == spec.name)
        else {
            return Err(AgentError::Refused(format!(
                "switch has no port {}",
                spec.name
            )));
        };
        let old = self.ports[position].clone();
        let mut transaction = Transaction::default();
        let result = async {
            self.apply_mtu(&spec, old.ifindex, old.spec.mtu, &mut transaction)
                .await?;
            let mut port = old.clone();
            port.spec = spec.clone();
            let egress = self.egress()?;
            self.maps
                .set_port(port.ifindex, self.guarded_config(&port), &egress)?;
            transaction.push(Step::RestorePort(old.clone()));
            self.write_allowed(&port, Some(&old))?;
            self.ports[position] = port;
            self.write_flood_sets(&mut transaction)?;
            if old.spec.offload != spec.offload {
                self.offloads.remove(old.ifindex).await;
                self.offloads
                    .apply(
                        &spec.name,
                        old.ifindex,
                        spec.hook,
                        config.port_offload(&spec),
                        self.ports[position].config(),
                    )
                    .await?;
            }
            Ok::<(), AgentError>(())
        }
        .await;
        match result {
            Ok(()) => {
                transaction.commit();
                Ok(())
            }
            Err(error) => {
                self.rollback(transaction).await;
                Err(error)
            }
        }
    }

    /// Removes port `name`: first from the flood sets, then its program and map entries and
    /// FDB entries, then its offload and the devices it created, and its counter slot.
    pub(super) async fn remove_port_unpublished(&mut self, name: &str) -> Result<(), AgentError> {
        let Some(position) = self.ports.iter().position(|port| port.spec.name == name) else {
            return Ok(());
        };
        let port = self.ports.remove(position);
        let mut transaction = Transaction::default();
        transaction.push(Step::Unlisted(position, port.clone()));
        if let Err(error) = self.write_flood_sets(&mut transaction) {
            self.rollback(transaction).await;
            return Err(error);
        }
        transaction.commit();
        // Past this point nothing floods to the port and nothing is undone: each step below
        // takes away part of a port that no longer receives frames, and failures are reported.
        let mut failures = Vec::new();
        let attached = self.attached.remove(name);
        if let Some(mut attached) = attached {
            for attachment in [attached.program, attached.stub].into_iter().flatten() {
                if let Err(error) = self.programs.detach(attachment) {
                    log::debug!("port {name}: {error}");
                }
            }
            for error in attached.created.undo(&self.links).await {
                failures.push(error.to_string());
            }
        }
        if let Err(error) = self.maps.remove_port(port.ifindex) {
            failures.push(error.to_string());
        }
        self.offloads.remove(port.ifindex).await;
        self.slots.release(port.slot);
        if failures.is_empty() {
            Ok(())
        } else {
            Err(AgentError::Failed(format!(
                "port {name} left the switch, but: {}",
                failures.join("; ")
            )))
        }
    }

    /// Replaces the flood set of every VLAN whose members changed, recording the old sets.
    pub(super) fn write_flood_sets(
        &mut self,
        transaction: &mut Transaction,
    ) -> Result<(), AgentError> {
        if self.flood_sets_deferred {
            return Ok(());
        }
        let wanted = flood_sets(&self.ports);
        // Every VLAN with members has a set in `wanted`; VLANs a leaving port was the last
        // member of come from the transaction.
        let mut vlans: Vec<u16> = wanted.keys().copied().collect();
        vlans.extend(transaction.unlisted_vlans());
        vlans.sort_unstable();
        vlans.dedup();
        for vlan in vlans {
            let new = wanted.get(&vlan).copied().unwrap_or(FloodSet::EMPTY);
            let old = self.maps.flood_set(vlan);
            if old.unwrap_or(FloodSet::EMPTY) == new {
                continue;
            }
            self.maps.set_flood(vlan, new)?;
            transaction.push(Step::Flood(vlan, old));
        }
        self.write_flood_groups()
    }

    /// Makes the plain XDP flood groups those of the ports as they are now: the groups that
    /// differ are written anew, and those no VLAN has any more go. Nothing to undo: a rollback
    /// writes them anew from the ports it restored.
    pub(super) fn write_flood_groups(&mut self) -> Result<(), AgentError> {
        if self.flood_sets_deferred {
            return Ok(());
        }
        let wanted = flood_groups(&self.ports, |port| self.guarded_config(port));
        Ok(self.maps.write_flood_groups(&wanted)?)
    }

    /// Undoes a failed transaction's steps, newest first; failures are logged.
    pub(super) async fn rollback(&mut self, transaction: Transaction) {
        for step in transaction.into_undo() {
            let result: Result<(), AgentError> = match step {
                Step::Slot(slot) => {
                    self.slots.release(slot);
                    Ok(())
                }
                Step::Devices(mut created) => {
                    for error in created.undo(&self.links).await {
                        log::warn!("rolling back: {error}");
                    }
                    Ok(())
                }
                Step::PortMaps(ifindex) => self.maps.remove_port(ifindex).map_err(Into::into),
                Step::RestorePort(port) => {
                    let restored = self.egress().and_then(|egress| {
                        self.maps.set_port(port.ifindex, port.config(), &egress)
                    });
                    if let Some(current) = self
                        .ports
                        .iter_mut()
                        .find(|current| current.spec.name == port.spec.name)
                    {
                        *current = port;
                    }
                    restored.map_err(Into::into)
                }
                Step::Attachment(attachment) => {
                    self.programs.detach(attachment).map_err(Into::into)
                }
                Step::Stub(name) => match self
                    .attached
                    .get_mut(&name)
                    .and_then(|attached| attached.stub.take())
                {
                    Some(stub) => self.programs.detach(stub).map_err(Into::into),
                    None => Ok(()),
                },
                Step::Offload(ifindex) => {
                    self.offloads.remove(ifindex).await;
                    Ok(())
                }
                Step::Listed(name) => {
                    self.ports.retain(|port| port.spec.name != name);
                    Ok(())
                }
                Step::Unlisted(position, port) => {
                    self.ports.insert(position.min(self.ports.len()), port);
                    Ok(())
                }
                Step::Flood(vlan, old) => self
                    .maps
                    .set_flood(vlan, old.unwrap_or(FloodSet::EMPTY))
                    .map_err(Into::into),
                Step::Mtu {
                    netns,
                    ifindex,
                    mtu,
                } => self.restore_mtu(netns.as_deref(), ifindex, mtu).await,
            };
            if let Err(error) = result {
                log::warn!("rolling back: {error}");
            }
        }
        if let Err(error) = self.write_flood_groups() {
            log::warn!("rolling back: {error}");
        }
    }

    /// Creates (or finds) the port's interface, recording what it created in `created`.
    /// Returns its ifindex and, for a veth, the peer's ifindex inside the namespace.
    pub(super) async fn create_port(
        &mut self,
        spec: &PortSpec,
        created: &mut Journal,
    ) -> Result<(u32, Option<u32>), AgentError> {
        let PortKind::Veth {
            netns: ns,
            addresses,
        } = &spec.kind
        else {
            let ifindex = self.links.require(&spec.name).await?;
            self.links.set_up(ifindex).await?;
            return Ok((ifindex, None));
        };
        if !netns::exists(ns) {
            self.make(created, Created::Netns(ns.clone()), async {
                netns::create(ns)
            })
            .await?;
        }
        let ns_file = netns::open(ns)?;
        let make_veth = self.links.create_veth(&spec.name, &ns_file, PEER_NAME);
        let ifindex = self
            .make(created, Created::Link(spec.name.clone()), make_veth)
            .await?;
        let inside = Links::connect_in(ns)?;
        let peer = inside.require(PEER_NAME).await?;
        if let Some(lo) = inside.index("lo").await? {
            inside.set_up(lo).await?;
        }
        for (address, prefix) in addresses {
            inside.add_address(peer, *address, *prefix).await?;
        }
        inside.set_up(peer).await?;
        self.links.set_up(ifindex).await?;
        Ok((ifindex, Some(peer)))
    }

    /// Creates `created` by running `make`, recorded in `journal` once it exists. It is
    /// journalled on disk first, so that the next agent removes it should this one be killed
    /// while making it or before publishing its record; a failure to make it (a name taken,
    /// say) takes the on-disk entry back, so that nothing of another's is ever removed.
    pub(super) async fn make<T, E>(
        &self,
        journal: &mut Journal,
        created: Created,
        make: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        pending::append(&self.name, &created);
        match make.await {
            Ok(made) => {
                journal.record(created);
                Ok(made)
            }
            Err(error) => {
                pending::retract(&self.name, &created);
                Err(error)
            }
        }
    }

    /// Where the link of `port`'s program in `role` is pinned: `links/ROLE/PORT` (see
    /// [`link_pin_file`]).
    pub(super) fn link_pin(&self, port: &str, role: LinkRole) -> PathBuf {
        state::pin_dir(&self.name)
            .join("links")
            .join(role.directory())
            .join(link_pin_file(port))
    }

    /// A handle on the devmap egress program for a `TX_PORTS` entry.
    pub(super) fn egress(&self) -> Result<ProgramFd, DatapathError> {
        self.programs.egress_fd()?.try_clone().map_err(|error| {
            DatapathError::program("duplicating the egress program fd")(error.into())
        })
    }

    /// Attaches `spec`'s ingress program to its interface, pinned (or taking over its pin).
    pub(super) fn attach(
        &mut self,
        spec: &PortSpec,
        ifindex: u32,
    ) -> Result<Attachment, AgentError> {
        Ok(match spec.hook {
            Hook::Tc => {
                let pin = self.link_pin(&spec.name, LinkRole::Tc);
                self.programs.attach_tc(&spec.name, &pin)?
            }
            Hook::Xdp => {
                let pin = self.link_pin(&spec.name, LinkRole::Xdp);
                self.programs.attach_xdp(ifindex, &pin)?
            }
        })
    }

    /// Forgets the port whose interface was deleted, e.g. with its container's namespace, or
    /// the tunnels of an underlay that was deleted.
    pub(super) async fn interface_removed(&mut self, ifindex: u32) -> Result<(), AgentError> {
        if self.underlay_removed(ifindex).await {
            self.publish()?;
            return Ok(());
        }
        let Some(name) = self
            .ports
            .iter()
            .find(|port| port.ifindex == ifindex)
            .map(|port| port.spec.name.clone())
        else {
            return Ok(());
        };
        log::warn!("port {name} disappeared; removing it from the switch");
        self.remove_port_unpublished(&name).await?;
        self.publish()?;
        Ok(())
    }
}

/// The file name of the pinned links of interface `name`: the name with its dots escaped
/// (bpffs refuses names with dots, which it reserves).
pub(super) fn link_pin_file(name: &str) -> String {
    name.replace('%', "%25").replace('.', "%2e")
}
