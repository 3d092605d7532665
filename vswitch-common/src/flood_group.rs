//! Plain XDP floods: the ports of a VLAN that all send a flooded frame exactly as it arrived.
//!
//! An XDP flood is one devmap broadcast, and a devmap with the egress program runs it once per
//! copy. Where every member of the frame's VLAN sends the frame as it arrived (untagged frames
//! to untagged members only, or frames tagged with the VLAN to tagged members only), the
//! program has nothing to decide: [`egress::decide`](crate::egress::decide) says `Keep` for
//! each. Such a set of members is a flood group. The controller keeps a devmap without a
//! program for each, and the ingress program broadcasts through it instead, counting each
//! member's copy itself.

use crate::{
    MAX_FLOOD_PORTS,
    frame::Tag,
    port::{Egress, PortConfig},
    vlan::VID_MASK,
};

/// How a flooded frame arrived, which the members of its group all send it as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// Without a tag.
    Untagged,
    /// Tagged with its own VLAN.
    Tagged,
}

impl Arrival {
    /// How a frame whose outer tag is `tag` arrived in `vlan`, or `None` when no member could
    /// send it unchanged: a priority tag (VLAN 0), which members pop or rewrite.
    #[inline(always)]
    pub fn of(tag: Tag, vlan: u16) -> Option<Self> {
        match tag.tci() {
            None => Some(Self::Untagged),
            Some(tci) if tci & VID_MASK == vlan => Some(Self::Tagged),
            Some(_) => None,
        }
    }

    /// How `port` sends frames of `vlan`, as the arrival it keeps unchanged; `None` for a port
    /// that is not a member (or is blocked).
    pub fn kept_by(port: &PortConfig, vlan: u16) -> Option<Self> {
        match port.egress(vlan) {
            Egress::Untagged => Some(Self::Untagged),
            Egress::Tagged => Some(Self::Tagged),
            Egress::NotMember => None,
        }
    }

    /// The key of the group of `vlan`'s frames that arrived like this, in `FLOOD_GROUPS` and
    /// `FLOOD_PLAIN`.
    #[inline(always)]
    pub const fn key(self, vlan: u16) -> u32 {
        let arrival = match self {
            Self::Untagged => 0,
            Self::Tagged => 1,
        };
        (arrival << 16) | vlan as u32
    }
}

/// One member of a flood group.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupMember {
    /// The port's interface index, its key in the group's devmap.
    pub ifindex: u32,
    /// The port's counter slot, where the ingress program counts its copy.
    pub slot: u32,
}

/// The members of a flood group, by [`Arrival::key`] in `FLOOD_GROUPS`. Its devmap in
/// `FLOOD_PLAIN` holds the same ports; the controller removes this entry before it changes the
/// devmap, so a program that finds it broadcasts to these members.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodGroup {
    /// How many entries of `members` are used.
    pub len: u32,
    /// The member ports.
    pub members: [GroupMember; MAX_FLOOD_PORTS],
}

impl FloodGroup {
    /// The group without members.
    pub const EMPTY: Self = Self {
        len: 0,
        members: [GroupMember {
            ifindex: 0,
            slot: 0,
        }; MAX_FLOOD_PORTS],
    };

    /// The members in use.
    pub fn members(&self) -> &[GroupMember] {
        let len = (self.len as usize).min(MAX_FLOOD_PORTS);
        &self.members[..len]
    }

    /// Adds a member; `false` when the group is full.
    pub fn push(&mut self, member: GroupMember) -> bool {
        let Some(entry) = self.members.get_mut(self.len as usize) else {
            return false;
        };
        *entry = member;
        self.len += 1;
        true
    }
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with no padding.
unsafe impl aya::Pod for FloodGroup {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_frames_without_a_tag_or_with_their_vlans_keep_their_shape() {
        assert_eq!(Arrival::of(Tag::None, 10), Some(Arrival::Untagged));
        assert_eq!(
            Arrival::of(Tag::InData(5 << 13 | 10), 10),
            Some(Arrival::Tagged)
        );
        assert_eq!(Arrival::of(Tag::Accel(10), 10), Some(Arrival::Tagged));
        // A priority tag is popped or rewritten by every member.
        assert_eq!(Arrival::of(Tag::InData(5 << 13), 10), None);
    }

    #[test]
    fn a_port_keeps_the_arrival_it_sends_the_vlan_as() {
        let mut trunk = PortConfig::access(1, 1, 0);
        trunk.tagged.insert(10);
        assert_eq!(Arrival::kept_by(&trunk, 1), Some(Arrival::Untagged));
        assert_eq!(Arrival::kept_by(&trunk, 10), Some(Arrival::Tagged));
        assert_eq!(Arrival::kept_by(&trunk, 20), None);
        trunk.flags |= crate::port::PORT_F_BLOCKED;
        assert_eq!(Arrival::kept_by(&trunk, 1), None);
    }

    #[test]
    fn keys_of_the_two_arrivals_differ() {
        assert_ne!(Arrival::Untagged.key(10), Arrival::Tagged.key(10));
        assert_ne!(Arrival::Untagged.key(10), Arrival::Untagged.key(11));
    }

    #[test]
    fn a_group_holds_at_most_the_flood_limit() {
        let mut group = FloodGroup::EMPTY;
        for n in 0..MAX_FLOOD_PORTS as u32 {
            assert!(group.push(GroupMember {
                ifindex: n,
                slot: n
            }));
        }
        assert!(!group.push(GroupMember {
            ifindex: 99,
            slot: 99
        }));
        assert_eq!(group.members().len(), MAX_FLOOD_PORTS);
    }
}
