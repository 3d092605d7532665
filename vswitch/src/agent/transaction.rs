//! The undo journal of one change to a running switch.

use vswitch_common::port::FloodSet;

use super::Port;
use crate::{datapath::Attachment, netlink::Journal};

/// A step a change took, recorded as what undoing it needs.
#[derive(Debug)]
pub enum Step {
    /// A counter slot was allocated.
    Slot(u32),
    /// Devices (veth, namespace) were created.
    Devices(Journal),
    /// A port's `PORTS` and `TX_PORTS` entries were written.
    PortMaps(u32),
    /// A port's configuration was replaced; this was the old one.
    RestorePort(Port),
    /// A program was attached.
    Attachment(Attachment),
    /// The pass-through program was attached to this port's veth peer.
    Stub(String),
    /// The port's offload was applied.
    Offload(u32),
    /// The port joined the switch's list of ports.
    Listed(String),
    /// The port left the list of ports at this position.
    Unlisted(usize, Port),
    /// A VLAN's flood set was replaced; this was the old one.
    Flood(u16, Option<FloodSet>),
    /// An interface's MTU was changed; this was the old one.
    Mtu {
        /// The namespace of a veth peer; `None` for the switch's own namespace.
        netns: Option<String>,
        /// The interface, in that namespace.
        ifindex: u32,
        /// Its MTU before.
        mtu: u32,
    },
}

/// The steps of one change, newest last.
#[derive(Debug, Default)]
pub struct Transaction {
    steps: Vec<Step>,
}

impl Transaction {
    /// Records a step taken.
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// The change is complete: nothing is to be undone.
    pub fn commit(self) {}

    /// The steps to undo, newest first.
    pub fn into_undo(self) -> impl Iterator<Item = Step> {
        self.steps.into_iter().rev()
    }

    /// Takes out the devices the change created, which the port keeps once it commits.
    pub fn take_devices(&mut self) -> Journal {
        let position = self
            .steps
            .iter()
            .position(|step| matches!(step, Step::Devices(_)));
        match position.map(|position| self.steps.remove(position)) {
            Some(Step::Devices(created)) => created,
            _ => Journal::default(),
        }
    }

    /// Takes out the attachments, in the order they were made, which the port keeps once the
    /// change commits.
    pub fn take_attachments(&mut self) -> Vec<Attachment> {
        let mut attachments = Vec::new();
        let mut kept = Vec::with_capacity(self.steps.len());
        for step in self.steps.drain(..) {
            match step {
                Step::Attachment(attachment) => attachments.push(attachment),
                other => kept.push(other),
            }
        }
        self.steps = kept;
        attachments
    }

    /// The VLANs of the ports this change took off the switch: their flood sets change too.
    pub fn unlisted_vlans(&self) -> Vec<u16> {
        self.steps
            .iter()
            .filter_map(|step| match step {
                Step::Unlisted(_, port) => Some(port.spec.vlan.members()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}
