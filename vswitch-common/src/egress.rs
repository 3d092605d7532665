//! How a frame leaves a port: the one tagging decision that both hooks execute.
//!
//! [`decide`] says what the outer tag must become, [`EgressAction::apply`] carries that out
//! through a hook's [`Tagger`], and [`prepare`] does both for one target port. The XDP devmap
//! egress program, the XDP ingress (for a unicast target) and the TCX forward and flood all go
//! through them, so a frame leaves a port with the same bytes and is counted the same way
//! whichever hook switched it.

use crate::{
    frame::Tag,
    port::{Egress, PortConfig},
    stats::DropReason,
    vlan::VID_MASK,
};

/// What happens to a frame's outer tag before the frame leaves a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EgressAction {
    /// Send the frame as it is: it already carries the tag, or lack of one, the port wants.
    Keep,
    /// Insert an 802.1Q tag with this tag control information.
    Push {
        /// Priority, drop eligibility and VLAN of the new tag.
        tci: u16,
    },
    /// Remove the outer tag.
    Pop,
    /// Rewrite the outer tag's control information in place.
    Retag {
        /// Priority, drop eligibility and VLAN the tag gets.
        tci: u16,
    },
    /// The frame must not leave through this port.
    Drop(DropReason),
}

/// Decides how a frame of VLAN `vlan` whose outer tag is now `tag` leaves the port `target`
/// (`None` when the target ifindex is not, or no longer, a port of the switch).
///
/// `priority` holds the PCP and DEI bits of the tag the frame arrived with ([`Tag::priority`];
/// 0 when it arrived untagged). Every tag the switch writes carries them: a retag keeps the
/// priority of a tagged frame, a push gives an untagged frame priority 0, and a flood that
/// popped the tag for one port restores the priority for the next.
///
/// A target that is not a port and a port that is not a member of the VLAN are both
/// [`DropReason::VlanEgress`]: neither may carry the VLAN.
///
/// Counting, the same on both hooks:
/// - a frame sent to one port (known unicast) that must not leave there (a drop, or a helper
///   failing to retag or redirect it) counts as a drop of the **ingress** port, under its
///   reason: the ingress port owns "why my frame was not delivered";
/// - in a flood, a non-member target is skipped without counting (it is not part of the
///   flood), while a helper failure counts as [`DropReason::HelperFailed`] on the ingress port;
/// - a frame that leaves counts in the **target** port's `tx_packets` and `tx_bytes`.
#[inline(always)]
pub fn decide(target: Option<&PortConfig>, vlan: u16, priority: u16, tag: Tag) -> EgressAction {
    let Some(target) = target else {
        return EgressAction::Drop(DropReason::VlanEgress);
    };
    let tci = (priority & !VID_MASK) | (vlan & VID_MASK);
    match (target.egress(vlan), tag.tci()) {
        (Egress::NotMember, _) => EgressAction::Drop(DropReason::VlanEgress),
        (Egress::Untagged, None) => EgressAction::Keep,
        (Egress::Untagged, Some(_)) => EgressAction::Pop,
        (Egress::Tagged, None) => EgressAction::Push { tci },
        (Egress::Tagged, Some(current)) if current & VID_MASK == vlan => EgressAction::Keep,
        (Egress::Tagged, Some(_)) => EgressAction::Retag { tci },
    }
}

/// A kernel helper refused to change a frame's tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagFailed;

/// The mechanics of changing a frame's outer tag, implemented once per hook.
pub trait Tagger {
    /// The frame's outer tag as it is now, after any change made through this tagger.
    fn tag(&self) -> Result<Tag, DropReason>;

    /// Inserts an outer 802.1Q tag with control information `tci`.
    fn push(&mut self, tci: u16) -> Result<(), TagFailed>;

    /// Removes the outer tag.
    fn pop(&mut self) -> Result<(), TagFailed>;

    /// Replaces the control information of the outer tag with `tci`.
    fn retag(&mut self, tci: u16) -> Result<(), TagFailed>;
}

impl EgressAction {
    /// Carries the action out on `frame`. `Ok` when the frame may leave; otherwise why not:
    /// the decision's own reason, or [`DropReason::HelperFailed`] when `frame` refused.
    #[inline(always)]
    pub fn apply<T: Tagger + ?Sized>(self, frame: &mut T) -> Result<(), DropReason> {
        let done = match self {
            Self::Keep => Ok(()),
            Self::Push { tci } => frame.push(tci),
            Self::Pop => frame.pop(),
            Self::Retag { tci } => frame.retag(tci),
            Self::Drop(reason) => return Err(reason),
        };
        done.map_err(|TagFailed| DropReason::HelperFailed)
    }
}

/// Decides how `frame`, of VLAN `vlan` and received with `priority` (see [`decide`]), leaves
/// through `target`, and makes it so. Returns the target port when the frame may leave, or why
/// it may not.
#[inline(always)]
pub fn prepare<'a, T: Tagger + ?Sized>(
    frame: &mut T,
    target: Option<&'a PortConfig>,
    vlan: u16,
    priority: u16,
) -> Result<&'a PortConfig, DropReason> {
    prepare_as(frame, target, vlan, priority).map(|(target, _)| target)
}

/// [`prepare`], which also says what it did to the frame's tag (for the flow cache, which does
/// the same to the flow's next frames).
#[inline(always)]
pub fn prepare_as<'a, T: Tagger + ?Sized>(
    frame: &mut T,
    target: Option<&'a PortConfig>,
    vlan: u16,
    priority: u16,
) -> Result<(&'a PortConfig, EgressAction), DropReason> {
    let action = decide(target, vlan, priority, frame.tag()?);
    action.apply(frame)?;
    // `decide` drops for a missing target, so this is the same reason, never a new one.
    Ok((target.ok_or(DropReason::VlanEgress)?, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PCP5: u16 = 5 << 13;
    const DEI: u16 = 1 << 12;

    #[test]
    fn missing_target_and_non_member_drop_with_the_same_reason() {
        let drop = EgressAction::Drop(DropReason::VlanEgress);
        assert_eq!(decide(None, 10, 0, Tag::None), drop);
        assert_eq!(decide(None, 10, PCP5, Tag::InData(PCP5 | 10)), drop);
        let access = PortConfig::access(0, 20, 0);
        assert_eq!(decide(Some(&access), 10, 0, Tag::None), drop);
        assert_eq!(
            decide(Some(&PortConfig::trunk(1, &[20])), 10, 0, Tag::Accel(10)),
            drop
        );
    }

    #[test]
    fn untagged_port_keeps_untagged_frames_and_pops_tagged_ones() {
        let access = PortConfig::access(0, 10, 0);
        assert_eq!(decide(Some(&access), 10, 0, Tag::None), EgressAction::Keep);
        assert_eq!(
            decide(Some(&access), 10, PCP5, Tag::InData(PCP5 | 10)),
            EgressAction::Pop
        );
        assert_eq!(
            decide(Some(&access), 10, 0, Tag::Accel(10)),
            EgressAction::Pop
        );
        // A priority tag (VLAN 0) is a tag too: the access port sends untagged.
        assert_eq!(
            decide(Some(&access), 10, PCP5, Tag::InData(PCP5)),
            EgressAction::Pop
        );
    }

    #[test]
    fn tagged_port_pushes_onto_untagged_frames_with_the_received_priority() {
        let port = PortConfig::trunk(0, &[10]);
        assert_eq!(
            decide(Some(&port), 10, 0, Tag::None),
            EgressAction::Push { tci: 10 }
        );
        // The tag was popped for an earlier port of a flood: the priority comes back.
        assert_eq!(
            decide(Some(&port), 10, PCP5 | DEI, Tag::None),
            EgressAction::Push {
                tci: PCP5 | DEI | 10
            }
        );
    }

    #[test]
    fn tagged_port_keeps_a_tag_of_the_right_vlan() {
        let port = PortConfig::trunk(0, &[10]);
        assert_eq!(
            decide(Some(&port), 10, PCP5, Tag::InData(PCP5 | 10)),
            EgressAction::Keep
        );
        assert_eq!(
            decide(Some(&port), 10, 0, Tag::Accel(10)),
            EgressAction::Keep
        );
    }

    #[test]
    fn retag_rewrites_the_vlan_and_keeps_priority_and_dei() {
        let port = PortConfig::trunk(0, &[10]);
        // A priority-tagged frame classified into VLAN 10 by its ingress port's PVID.
        assert_eq!(
            decide(Some(&port), 10, PCP5 | DEI, Tag::InData(PCP5 | DEI)),
            EgressAction::Retag {
                tci: PCP5 | DEI | 10
            }
        );
        assert_eq!(
            decide(Some(&port), 10, PCP5, Tag::Accel(PCP5)),
            EgressAction::Retag { tci: PCP5 | 10 }
        );
    }

    #[test]
    fn stray_vid_bits_in_the_priority_never_reach_the_tag() {
        let port = PortConfig::trunk(0, &[10]);
        assert_eq!(
            decide(Some(&port), 10, PCP5 | 0x0fff, Tag::None),
            EgressAction::Push { tci: PCP5 | 10 }
        );
    }

    /// Records what was asked of it, and refuses everything when `refuse` is set.
    struct Recorder {
        tag: Tag,
        refuse: bool,
        calls: Vec<(&'static str, u16)>,
    }

    impl Default for Recorder {
        fn default() -> Self {
            Self {
                tag: Tag::None,
                refuse: false,
                calls: Vec::new(),
            }
        }
    }

    impl Recorder {
        fn call(&mut self, name: &'static str, tci: u16) -> Result<(), TagFailed> {
            self.calls.push((name, tci));
            if self.refuse { Err(TagFailed) } else { Ok(()) }
        }
    }

    impl Tagger for Recorder {
        fn tag(&self) -> Result<Tag, DropReason> {
            Ok(self.tag)
        }
        fn push(&mut self, tci: u16) -> Result<(), TagFailed> {
            self.call("push", tci)
        }
        fn pop(&mut self) -> Result<(), TagFailed> {
            self.call("pop", 0)
        }
        fn retag(&mut self, tci: u16) -> Result<(), TagFailed> {
            self.call("retag", tci)
        }
    }

    #[test]
    fn apply_runs_exactly_the_mechanics_the_action_names() {
        let cases = [
            (EgressAction::Keep, None),
            (EgressAction::Push { tci: 10 }, Some(("push", 10))),
            (EgressAction::Pop, Some(("pop", 0))),
            (
                EgressAction::Retag { tci: PCP5 | 10 },
                Some(("retag", PCP5 | 10)),
            ),
        ];
        for (action, call) in cases {
            let mut frame = Recorder::default();
            assert_eq!(action.apply(&mut frame), Ok(()));
            assert_eq!(frame.calls, call.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn apply_reports_drops_and_helper_failures() {
        let mut frame = Recorder::default();
        let drop = EgressAction::Drop(DropReason::VlanEgress);
        assert_eq!(drop.apply(&mut frame), Err(DropReason::VlanEgress));
        assert!(frame.calls.is_empty(), "a drop touches no tag");
        let mut refusing = Recorder {
            refuse: true,
            ..Recorder::default()
        };
        for action in [
            EgressAction::Push { tci: 10 },
            EgressAction::Pop,
            EgressAction::Retag { tci: 10 },
        ] {
            assert_eq!(action.apply(&mut refusing), Err(DropReason::HelperFailed));
        }
    }

    #[test]
    fn prepare_returns_the_target_only_when_the_frame_may_leave() {
        let port = PortConfig::trunk(0, &[10]);
        let mut frame = Recorder {
            tag: Tag::InData(PCP5),
            ..Recorder::default()
        };
        assert_eq!(prepare(&mut frame, Some(&port), 10, PCP5), Ok(&port));
        assert_eq!(frame.calls, [("retag", PCP5 | 10)]);
        assert_eq!(
            prepare(&mut frame, None, 10, PCP5),
            Err(DropReason::VlanEgress)
        );
        assert_eq!(
            prepare(&mut frame, Some(&port), 20, PCP5),
            Err(DropReason::VlanEgress)
        );
        assert_eq!(frame.calls.len(), 1, "a drop touches no tag");
    }
}
