//! The `[[macvlan]]` and `[[ipvlan]]` parents of a running switch: each child is created (a veth
//! into its namespace with the child's MAC, or a persistent tap) and attached, then the parent's
//! set of children is written, and last the parent's programs are attached, so that no frame is
//! dispatched to a child that is not complete. A parent is removed in the opposite order.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use vswitch_common::{
    dispatch::{CHILD_F_PEER, Child, MAX_CHILDREN, Mode, Parent},
    ipvlan::{self, Address},
    mac::MacAddr,
};

use super::{AgentError, LinkRole, Switch};
use crate::{
    config::{ChildKind, ChildSpec, Hook, ParentSpec, PortKind, PortSpec, VlanMode},
    datapath::{Attachment, ChildKeys, DispatchTc},
    netlink::{Created, Journal, Links, tap},
    state::DispatchRecord,
};

/// A child the switch runs.
#[derive(Debug)]
struct ChildState {
    /// Its map value.
    child: Child,
    /// The sources it accepts (source mode).
    sources: Vec<MacAddr>,
    /// Its IP addresses (ipvlan).
    addresses: Vec<Address>,
    /// Its programs: the dispatch classifier, and the pass-through program on a veth's peer.
    attachments: Vec<Attachment>,
    /// What creating it made.
    created: Journal,
}

impl ChildState {
    fn keys(&self) -> ChildKeys<'_> {
        ChildKeys {
            sources: &self.sources,
            addresses: &self.addresses,
        }
    }
}

/// A parent the switch dispatches on.
#[derive(Debug)]
struct ParentState {
    spec: ParentSpec,
    ifindex: u32,
    slot: u32,
    attachments: Vec<Attachment>,
    children: Vec<ChildState>,
}

/// The switch's parents by name.
#[derive(Debug, Default)]
pub(super) struct Dispatch {
    parents: BTreeMap<String, ParentState>,
    /// Namespaces a previous agent created for children, which the children made now in them
    /// take over (and remove when they go).
    inherited_netns: BTreeSet<String>,
}

impl Dispatch {
    /// The configuration of every parent.
    pub(super) fn specs(&self) -> Vec<ParentSpec> {
        self.parents
            .values()
            .map(|parent| parent.spec.clone())
            .collect()
    }
}

impl Switch {
    /// The parents and children, for the instance record.
    pub(super) fn dispatch_records(&self) -> Vec<DispatchRecord> {
        self.dispatch
            .parents
            .values()
            .flat_map(|parent| {
                let children =
                    parent
                        .spec
                        .children
                        .iter()
                        .zip(&parent.children)
                        .map(|(spec, state)| DispatchRecord {
                            name: spec.name.clone(),
                            parent: Some(parent.spec.parent.clone()),
                            slot: state.child.slot,
                            created: state.created.entries().to_vec(),
                        });
                std::iter::once(DispatchRecord {
                    name: parent.spec.parent.clone(),
                    parent: None,
                    slot: parent.slot,
                    created: Vec::new(),
                })
                .chain(children)
            })
            .collect()
    }

    /// Clears what a previous agent of this instance left of its parents (`previous`, from its
    /// record) before `wanted` is applied: children are made anew rather than adopted (their
    /// links go down for a moment), the dispatch maps start empty, and the links of parents
    /// no longer wanted are unpinned. Namespaces it created for children that `wanted` still
    /// puts there are taken over; the others are removed.
    pub(super) async fn forget_dispatch(
        &mut self,
        previous: Vec<DispatchRecord>,
        wanted: &[ParentSpec],
    ) -> Result<(), AgentError> {
        if previous.is_empty() {
            return Ok(());
        }
        self.maps.clear_dispatch()?;
        let wanted_netns: BTreeSet<&str> = wanted
            .iter()
            .flat_map(|parent| &parent.children)
            .filter_map(ChildSpec::netns)
            .collect();
        for record in previous {
            let still_parent = wanted.iter().any(|parent| parent.parent == record.name);
            if record.parent.is_none() && still_parent {
                continue;
            }
            for role in [LinkRole::Dispatch, LinkRole::DispatchXdp, LinkRole::Pass] {
                let _ = std::fs::remove_file(self.link_pin(&record.name, role));
            }
            let mut created = Journal::default();
            for entry in record.created {
                match entry {
                    Created::Netns(netns) if wanted_netns.contains(netns.as_str()) => {
                        self.dispatch.inherited_netns.insert(netns);
                    }
                    other => created.record(other),
                }
            }
            for error in created.undo(&self.links).await {
                log::warn!(
                    "removing what the previous agent made for {}: {error}",
                    record.name
                );
            }
        }
        Ok(())
    }

    /// Makes the parents those of `wanted`: a parent whose section changed is made anew.
    /// Returns what changed, for a reload's summary.
    pub(super) async fn apply_dispatch(
        &mut self,
        wanted: &[ParentSpec],
    ) -> Result<Vec<String>, AgentError> {
        let mut changes = Vec::new();
        let stale: Vec<String> = self
            .dispatch
            .parents
            .values()
            .filter(|parent| !wanted.contains(&parent.spec))
            .map(|parent| parent.spec.parent.clone())
            .collect();
        for name in stale {
            self.remove_parent(&name).await;
            changes.push(format!("removed dispatch parent {name}"));
        }
        for spec in wanted {
            if !self.dispatch.parents.contains_key(&spec.parent) {
                self.add_parent(spec).await?;
                changes.push(format!("added dispatch parent {}", spec.parent));
            }
        }
        Ok(changes)
    }

    /// Removes every parent and its children.
    pub(super) async fn remove_all_parents(&mut self) {
        let names: Vec<String> = self.dispatch.parents.keys().cloned().collect();
        for name in names {
            self.remove_parent(&name).await;
        }
    }

    /// Adds the parent `spec` with its children; on failure, what was made is removed again.
    async fn add_parent(&mut self, spec: &ParentSpec) -> Result<(), AgentError> {
        let result = self.try_add_parent(spec).await;
        if result.is_err() {
            self.remove_parent(&spec.parent).await;
        }
        result
    }

    async fn try_add_parent(&mut self, spec: &ParentSpec) -> Result<(), AgentError> {
        let ifindex = self.links.require(&spec.parent).await?;
        self.links.set_up(ifindex).await?;
        let slot = self.counter_slot(&format!("parent {}", spec.parent))?;
        self.dispatch.parents.insert(
            spec.parent.clone(),
            ParentState {
                spec: spec.clone(),
                ifindex,
                slot,
                attachments: Vec::new(),
                children: Vec::new(),
            },
        );
        let parent_mac = self.links.mac(ifindex).await?.unwrap_or_default();
        let mut set = Parent {
            slot,
            mode: spec.mode as u32,
            passthru: 0,
            len: 0,
            children: [0; MAX_CHILDREN],
        };
        for (index, child) in spec.children.iter().enumerate() {
            let mac = child.mac.unwrap_or(parent_mac);
            let state = self.add_child(spec, ifindex, child, mac).await?;
            let child_ifindex = state.child.ifindex;
            self.parent_mut(&spec.parent).children.push(state);
            if let Some(slot) = set.children.get_mut(index) {
                *slot = child_ifindex;
                set.len += 1;
            }
            if spec.mode == Mode::Passthru {
                set.passthru = child_ifindex;
            }
        }
        self.maps.set_parent(ifindex, Some(set))?;
        let pin = self.link_pin(&spec.parent, LinkRole::Dispatch);
        let tc = self
            .programs
            .attach_dispatch_tc(DispatchTc::Parent, &spec.parent, &pin)?;
        self.parent_mut(&spec.parent).attachments.push(tc);
        let pin = self.link_pin(&spec.parent, LinkRole::DispatchXdp);
        let xdp = self.programs.attach_dispatch_xdp(ifindex, &pin)?;
        self.parent_mut(&spec.parent).attachments.push(xdp);
        log::info!(
            "dispatch parent {}: {} children in {} mode",
            spec.parent,
            spec.children.len(),
            spec.mode.name()
        );
        Ok(())
    }

    fn parent_mut(&mut self, name: &str) -> &mut ParentState {
        self.dispatch
            .parents
            .get_mut(name)
            .expect("the parent was inserted first")
    }

    /// Creates child `spec` of `parent` with address `mac`, writes it into the maps and
    /// attaches its programs. On failure, undoes its own steps.
    async fn add_child(
        &mut self,
        parent: &ParentSpec,
        parent_ifindex: u32,
        spec: &ChildSpec,
        mac: MacAddr,
    ) -> Result<ChildState, AgentError> {
        let mut state = ChildState {
            child: Child {
                ifindex: 0,
                parent: parent_ifindex,
                mode: parent.mode as u32,
                flags: 0,
                slot: 0,
                mac,
                _pad: [0; 2],
            },
            sources: spec.allowed_sources.clone(),
            addresses: match &spec.kind {
                ChildKind::Veth { addresses, .. } if parent.mode.is_ipvlan() => addresses
                    .iter()
                    .map(|(address, _)| match address {
                        IpAddr::V4(v4) => ipvlan::v4(v4.octets()),
                        IpAddr::V6(v6) => v6.octets(),
                    })
                    .collect(),
                _ => Vec::new(),
            },
            attachments: Vec::new(),
            created: Journal::default(),
        };
        match self.try_add_child(spec, &mut state).await {
            Ok(()) => Ok(state),
            Err(error) => {
                self.remove_child(state).await;
                Err(error)
            }
        }
    }

    async fn try_add_child(
        &mut self,
        spec: &ChildSpec,
        state: &mut ChildState,
    ) -> Result<(), AgentError> {
        let mac = state.child.mac;
        match &spec.kind {
            ChildKind::Veth { netns, addresses } => {
                let kind = PortKind::Veth {
                    netns: netns.clone(),
                    addresses: addresses.clone(),
                };
                let port = PortSpec::plain(
                    spec.name.clone(),
                    kind,
                    VlanMode::Access(1),
                    Hook::Tc,
                    false,
                );
                if self.dispatch.inherited_netns.remove(netns) {
                    state.created.record(Created::Netns(netns.clone()));
                }
                let (ifindex, peer) = self.create_port(&port, &mut state.created).await?;
                state.child.ifindex = ifindex;
                state.child.flags = CHILD_F_PEER;
                let peer = peer.expect("a veth has a peer");
                Links::connect_in(netns)?.set_mac(peer, mac).await?;
                // Native XDP redirects from the parent into the veth need a program on its peer.
                let pin = self.link_pin(&spec.name, LinkRole::Pass);
                let stub = self.programs.attach_pass_in(netns, peer, &pin)?;
                state.attachments.push(stub);
            }
            ChildKind::Tap => {
                if self.links.index(&spec.name).await?.is_some() {
                    return Err(crate::netlink::NetlinkError::LinkExists(spec.name.clone()).into());
                }
                let link = Created::Link(spec.name.clone());
                self.make(&mut state.created, link, async { tap::create(&spec.name) })
                    .await?;
                let ifindex = self.links.require(&spec.name).await?;
                state.child.ifindex = ifindex;
                self.links.set_mac(ifindex, mac).await?;
                self.links.set_up(ifindex).await?;
            }
        }
        state.child.slot = self.counter_slot(&format!("child {}", spec.name))?;
        self.maps.set_child(state.child, state.keys())?;
        let pin = self.link_pin(&spec.name, LinkRole::Dispatch);
        let tc = self
            .programs
            .attach_dispatch_tc(DispatchTc::Child, &spec.name, &pin)?;
        state.attachments.push(tc);
        Ok(())
    }

    /// Removes the parent `name`: its programs first, then its set of children, then each
    /// child. Failures are logged; nothing is undone past this point.
    async fn remove_parent(&mut self, name: &str) {
        let Some(parent) = self.dispatch.parents.remove(name) else {
            return;
        };
        for attachment in parent.attachments {
            if let Err(error) = self.programs.detach(attachment) {
                log::debug!("dispatch parent {name}: {error}");
            }
        }
        if let Err(error) = self.maps.set_parent(parent.ifindex, None) {
            log::warn!("dispatch parent {name}: {error}");
        }
        for child in parent.children {
            self.remove_child(child).await;
        }
        self.slots.release(parent.slot);
    }

    /// Detaches a child, removes it from the maps and deletes what creating it made.
    async fn remove_child(&mut self, mut state: ChildState) {
        for attachment in std::mem::take(&mut state.attachments) {
            if let Err(error) = self.programs.detach(attachment) {
                log::debug!("dispatch child {}: {error}", state.child.ifindex);
            }
        }
        if state.child.slot != 0 {
            if let Err(error) = self.maps.remove_child(&state.child, state.keys()) {
                log::warn!("dispatch child {}: {error}", state.child.ifindex);
            }
            self.slots.release(state.child.slot);
        }
        for error in state.created.undo(&self.links).await {
            log::warn!("cleaning up: {error}");
        }
    }
}
