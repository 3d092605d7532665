//! MAC dispatch on a parent interface, as the kernel's macvlan driver does it: children with
//! their own MAC addresses behind one parent, in one of five modes.
//!
//! The rules follow `drivers/net/macvlan.c` (`macvlan_handle_frame`, `macvlan_queue_xmit`,
//! `macvlan_process_broadcast`, `macvlan_forward_source`), so that the same scenario behaves
//! the same with the driver and with vswitch:
//!
//! - a unicast frame that arrives on the parent goes to the child with its destination MAC
//!   (to the one child in passthru mode; to a source-mode child only from its allowed
//!   sources), and anything else to the parent's own stack;
//! - a group frame that arrives on the parent goes to the parent's stack and to the children
//!   [`floods_to`] picks, which depends on whether its source is one of the parent's children
//!   (then it is a frame the outside reflected);
//! - a frame from a child leaves through the parent, except in bridge mode, where unicast to a
//!   bridge-mode sibling goes straight to it and group frames also reach the bridge-mode
//!   siblings.
//!
//! ipvlan's L2 mode is one more mode here: its children share the parent's MAC address, so
//! unicast is told apart by the IP address it is for (`ipvlan::destination`), and a child's
//! frames for that shared address go to a sibling with the IP address, or to the parent's own
//! stack (`ipvlan_xmit_mode_l2` in `drivers/net/ipvlan/ipvlan_core.c`).
//!
//! ipvlan's L3 mode routes instead: unicast goes to the child with the destination IP address
//! whatever the destination MAC (which is rewritten to the child's), no group frame reaches a
//! child from the outside or from a sibling, and the switch answers ARP requests and neighbour
//! solicitations for the children's addresses itself (`neighbour`), from the outside and from
//! siblings alike. A child's other group frames only leave through the parent.

use crate::{
    ipvlan::Address,
    mac::{self, MacAddr},
    neighbour::Request,
};

/// Most children one parent has (the flood loop is bounded).
pub const MAX_CHILDREN: usize = 64;

/// Most parents one switch dispatches on.
pub const MAX_PARENTS: u32 = 64;

/// Most allowed source addresses of all source-mode children together.
pub const MAX_SOURCES: u32 = 4096;

/// A child's mode: the macvlan ones numbered as the kernel's `enum macvlan_mode`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Never reaches its siblings, even through a hairpinning outside.
    Private = 1,
    /// Everything leaves through the parent; siblings are reached if the outside hairpins.
    Vepa = 2,
    /// Siblings are reached directly.
    Bridge = 4,
    /// The only child of its parent, which gets every frame the parent receives.
    Passthru = 8,
    /// Accepts frames only from its list of allowed source addresses.
    Source = 16,
    /// ipvlan L2: the parent's MAC address, told apart by IP address (no macvlan number).
    IpvlanL2 = 256,
    /// ipvlan L3: the parent's MAC address, routed by IP address, no group frames.
    IpvlanL3 = 257,
}

impl Mode {
    /// The macvlan modes.
    pub const MACVLAN: [Self; 5] = [
        Self::Private,
        Self::Vepa,
        Self::Bridge,
        Self::Passthru,
        Self::Source,
    ];

    /// The mode with the kernel's number `bits`, if there is one.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            1 => Some(Self::Private),
            2 => Some(Self::Vepa),
            4 => Some(Self::Bridge),
            8 => Some(Self::Passthru),
            16 => Some(Self::Source),
            256 => Some(Self::IpvlanL2),
            257 => Some(Self::IpvlanL3),
            _ => None,
        }
    }

    /// Whether children of this mode are ipvlan's: they share the parent's MAC address and are
    /// found by their IP addresses.
    pub const fn is_ipvlan(self) -> bool {
        match self {
            Self::IpvlanL2 | Self::IpvlanL3 => true,
            Self::Private | Self::Vepa | Self::Bridge | Self::Passthru | Self::Source => false,
        }
    }

    /// The name used in the config and by iproute2.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Vepa => "vepa",
            Self::Bridge => "bridge",
            Self::Passthru => "passthru",
            Self::Source => "source",
            Self::IpvlanL2 => "l2",
            Self::IpvlanL3 => "l3",
        }
    }
}

/// A child that is a veth: frames for it go to its peer with `bpf_redirect_peer` (a tap child
/// is sent to with `bpf_redirect`, which its reader gets).
pub const CHILD_F_PEER: u32 = 1 << 0;

/// One child: the `CHILDREN` value by its own ifindex, and the `DISPATCH` value by
/// (parent, MAC).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Child {
    /// The child-facing interface (the switch's end of the veth, or the tap).
    pub ifindex: u32,
    /// The parent's ifindex.
    pub parent: u32,
    /// Its [`Mode`], by number.
    pub mode: u32,
    /// `CHILD_F_*` flags.
    pub flags: u32,
    /// Its counter slot.
    pub slot: u32,
    /// Its MAC address.
    pub mac: MacAddr,
    /// Padding, zero.
    pub _pad: [u8; 2],
}

impl Child {
    /// Its mode; `None` for a number no mode has.
    pub const fn mode(&self) -> Option<Mode> {
        Mode::from_bits(self.mode)
    }

    /// Whether `flag` is set.
    pub const fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// The `DISPATCH` key: a child by its parent and MAC address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildKey {
    /// The parent's ifindex.
    pub parent: u32,
    /// The child's MAC address.
    pub mac: MacAddr,
    /// Padding, zero.
    pub _pad: [u8; 2],
}

impl ChildKey {
    /// The key of `mac` behind `parent`.
    pub const fn new(parent: u32, mac: MacAddr) -> Self {
        Self {
            parent,
            mac,
            _pad: [0; 2],
        }
    }
}

/// The `SOURCES` key: a source-mode child and one address it accepts frames from.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceKey {
    /// The child's ifindex.
    pub child: u32,
    /// The allowed source address.
    pub mac: MacAddr,
    /// Padding, zero.
    pub _pad: [u8; 2],
}

impl SourceKey {
    /// The key of source `mac` for `child`.
    pub const fn new(child: u32, mac: MacAddr) -> Self {
        Self {
            child,
            mac,
            _pad: [0; 2],
        }
    }
}

/// One parent: the `PARENTS` value by its ifindex, replaced whole by the controller.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    /// Its counter slot.
    pub slot: u32,
    /// The [`Mode`] of its children, by number.
    pub mode: u32,
    /// The ifindex of its passthru child, 0 when it has none.
    pub passthru: u32,
    /// How many of `children` are used.
    pub len: u32,
    /// Its children's ifindexes.
    pub children: [u32; MAX_CHILDREN],
}

/// Where a frame that arrives on a parent goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival<'a> {
    /// To this child only.
    Child(&'a Child),
    /// To the parent's stack and to the children [`floods_to`] picks.
    Flood,
    /// To the parent's own stack only.
    Pass,
    /// Answered by the switch: `request` becomes the reply that its target is at `answer`,
    /// sent back out of the parent.
    Answer {
        /// The ARP request or neighbour solicitation.
        request: Request,
        /// The MAC address of the child with the address asked for.
        answer: MacAddr,
    },
}

/// How [`arrival`] and [`departure`] find children: by MAC address, by the IP address the
/// frame is for (ipvlan), and whether a source-mode child accepts a source address.
pub trait Lookup<'a> {
    /// The parent's child with MAC address `mac`.
    fn by_mac(&self, mac: &MacAddr) -> Option<&'a Child>;
    /// The child whose interface is `ifindex`.
    fn by_ifindex(&self, ifindex: u32) -> Option<&'a Child>;
    /// The parent's child with the IP address the frame is for.
    fn by_address(&self) -> Option<&'a Child>;
    /// The parent's child with IP address `address` (IPv4 mapped into IPv6).
    fn by_ip(&self, address: &Address) -> Option<&'a Child>;
    /// The answerable ARP request or neighbour solicitation the frame holds (ipvlan L3).
    fn request(&self) -> Option<Request>;
    /// Whether source-mode `child` accepts frames from `src`.
    fn allows(&self, child: &Child, src: &MacAddr) -> bool;
}

/// Where a frame with destination `dst` and source `src` that arrives on `parent` goes.
#[inline(always)]
pub fn arrival<'a>(
    parent: &Parent,
    dst: &MacAddr,
    src: &MacAddr,
    lookup: &impl Lookup<'a>,
) -> Arrival<'a> {
    let mode = Mode::from_bits(parent.mode);
    if mac::is_group(dst) {
        return match mode {
            Some(Mode::IpvlanL3) => match asked_from_outside(lookup) {
                Some((request, owner)) => Arrival::Answer {
                    request,
                    answer: owner.mac,
                },
                None => Arrival::Pass,
            },
            Some(
                Mode::Private
                | Mode::Vepa
                | Mode::Bridge
                | Mode::Passthru
                | Mode::Source
                | Mode::IpvlanL2,
            )
            | None => Arrival::Flood,
        };
    }
    if parent.passthru != 0 {
        return match lookup.by_ifindex(parent.passthru) {
            Some(child) => Arrival::Child(child),
            None => Arrival::Pass,
        };
    }
    let found = match mode {
        Some(Mode::IpvlanL2 | Mode::IpvlanL3) => lookup.by_address(),
        Some(Mode::Private | Mode::Vepa | Mode::Bridge | Mode::Passthru | Mode::Source) | None => {
            lookup.by_mac(dst)
        }
    };
    let Some(child) = found else {
        return Arrival::Pass;
    };
    match child.mode() {
        Some(Mode::Source) if lookup.allows(child, src) => Arrival::Child(child),
        Some(Mode::Source) | None => Arrival::Pass,
        Some(
            Mode::Private
            | Mode::Vepa
            | Mode::Bridge
            | Mode::Passthru
            | Mode::IpvlanL2
            | Mode::IpvlanL3,
        ) => Arrival::Child(child),
    }
}

/// The answerable request in the frame and the child whose address it asks for.
#[inline(always)]
fn asked<'a>(lookup: &impl Lookup<'a>) -> Option<(Request, &'a Child)> {
    let request = lookup.request()?;
    let owner = lookup.by_ip(&request.target())?;
    Some((request, owner))
}

/// [`asked`] for a request from the outside, unless its sender has a child's address: then it
/// is a child's own request that the outside reflected, which the switch answered (or sent
/// out) on the way.
#[inline(always)]
fn asked_from_outside<'a>(lookup: &impl Lookup<'a>) -> Option<(Request, &'a Child)> {
    let (request, owner) = asked(lookup)?;
    lookup
        .by_ip(&request.sender())
        .is_none()
        .then_some((request, owner))
}

/// Where a group frame came from, for [`floods_to`].
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    /// It arrived on the parent; `sender` is the child whose address is its source, when the
    /// outside reflected a child's frame.
    Outside {
        /// The child that sent it, if any.
        sender: Option<&'a Child>,
    },
    /// A bridge-mode child sent it.
    Sibling(&'a Child),
}

/// Whether a group frame from `origin` reaches `member`. `source_allowed` says whether the
/// frame's source is on `member`'s allowed list (it matters for source-mode members only).
#[inline(always)]
pub fn floods_to(member: &Child, origin: Origin<'_>, source_allowed: bool) -> bool {
    let Some(mode) = member.mode() else {
        return false;
    };
    let from_allowed = mode == Mode::Source && source_allowed;
    match origin {
        Origin::Sibling(sender) => {
            matches!(mode, Mode::Bridge | Mode::IpvlanL2) && member.ifindex != sender.ifindex
        }
        // ipvlan L3 children get no group frames at all.
        Origin::Outside { sender: None } => {
            !matches!(mode, Mode::Source | Mode::IpvlanL3) || from_allowed
        }
        Origin::Outside {
            sender: Some(sender),
        } => {
            let other = member.ifindex != sender.ifindex;
            let reflected = match sender.mode() {
                // A VEPA child's group frames reach its siblings only through the outside.
                Some(Mode::Vepa) => other && matches!(mode, Mode::Vepa | Mode::Bridge),
                // Bridge siblings had their copy on the way out; VEPA ones had not.
                Some(Mode::Bridge) => other && mode == Mode::Vepa,
                // The driver returns the frame to its sender only.
                Some(Mode::Private | Mode::Passthru | Mode::Source) | None => !other,
                // ipvlan children share the parent's address: never the sender here.
                Some(Mode::IpvlanL2 | Mode::IpvlanL3) => false,
            };
            reflected || from_allowed
        }
    }
}

/// Where a frame that a child sends goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Departure<'a> {
    /// Out of the parent.
    Parent,
    /// To this sibling only.
    Sibling(&'a Child),
    /// To the siblings [`floods_to`] picks for [`Origin::Sibling`], and out of the parent.
    Flood,
    /// To the parent's own stack (ipvlan: for the shared MAC, but no child's IP address).
    Host,
    /// Answered by the switch: `request` becomes the reply that its target is at `answer`,
    /// sent back to the child (ipvlan L3, for a sibling's address).
    Answer {
        /// The ARP request or neighbour solicitation.
        request: Request,
        /// The MAC address of the sibling with the address asked for.
        answer: MacAddr,
    },
}

/// Where a frame with destination `dst` from `child` goes.
#[inline(always)]
pub fn departure<'a>(child: &Child, dst: &MacAddr, lookup: &impl Lookup<'a>) -> Departure<'a> {
    match child.mode() {
        Some(Mode::Bridge | Mode::IpvlanL2) if mac::is_group(dst) => Departure::Flood,
        Some(Mode::IpvlanL2) if *dst == child.mac => match lookup.by_address() {
            Some(sibling) if sibling.ifindex != child.ifindex => Departure::Sibling(sibling),
            Some(_) | None => Departure::Host,
        },
        Some(Mode::IpvlanL2) => Departure::Parent,
        Some(Mode::IpvlanL3) if mac::is_group(dst) => match asked(lookup) {
            Some((request, owner)) if owner.ifindex != child.ifindex => Departure::Answer {
                request,
                answer: owner.mac,
            },
            Some(_) | None => Departure::Parent,
        },
        Some(Mode::IpvlanL3) => match lookup.by_address() {
            Some(sibling) if sibling.ifindex != child.ifindex => Departure::Sibling(sibling),
            Some(_) | None if *dst == child.mac => Departure::Host,
            Some(_) | None => Departure::Parent,
        },
        Some(Mode::Bridge) => match lookup.by_mac(dst) {
            Some(sibling)
                if sibling.mode() == Some(Mode::Bridge) && sibling.ifindex != child.ifindex =>
            {
                Departure::Sibling(sibling)
            }
            Some(_) | None => Departure::Parent,
        },
        Some(Mode::Private | Mode::Vepa | Mode::Passthru | Mode::Source) | None => {
            Departure::Parent
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: plain `repr(C)` integers and byte arrays with explicit padding.
unsafe impl aya::Pod for Child {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for ChildKey {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for SourceKey {}
#[cfg(feature = "user")]
// SAFETY: plain `repr(C)` integers.
unsafe impl aya::Pod for Parent {}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTSIDE: MacAddr = [2, 0, 0, 0, 0, 0x99];

    fn child(ifindex: u32, mode: Mode) -> Child {
        Child {
            ifindex,
            parent: 1,
            mode: mode as u32,
            flags: CHILD_F_PEER,
            slot: ifindex,
            mac: [2, 0, 0, 0, 0, ifindex as u8],
            _pad: [0; 2],
        }
    }

    fn parent(children: &[Child]) -> Parent {
        let mut parent = Parent {
            slot: 1,
            mode: children[0].mode,
            passthru: 0,
            len: children.len() as u32,
            children: [0; MAX_CHILDREN],
        };
        for (slot, child) in parent.children.iter_mut().zip(children) {
            *slot = child.ifindex;
            if child.mode() == Some(Mode::Passthru) {
                parent.passthru = child.ifindex;
            }
        }
        parent
    }

    /// The children of one parent; `allowed` is the one source source-mode children accept,
    /// `addressed` the child whose IP address the frame is for, `ips` the children's IP
    /// addresses and `request` the answerable request the frame holds.
    struct Table<'a> {
        children: &'a [Child],
        allowed: MacAddr,
        addressed: Option<u32>,
        ips: &'a [(Address, u32)],
        request: Option<Request>,
    }

    impl<'a> Lookup<'a> for Table<'a> {
        fn by_mac(&self, mac: &MacAddr) -> Option<&'a Child> {
            self.children.iter().find(|child| child.mac == *mac)
        }

        fn by_ifindex(&self, ifindex: u32) -> Option<&'a Child> {
            self.children.iter().find(|child| child.ifindex == ifindex)
        }

        fn by_address(&self) -> Option<&'a Child> {
            let ifindex = self.addressed?;
            self.children.iter().find(|child| child.ifindex == ifindex)
        }

        fn by_ip(&self, address: &Address) -> Option<&'a Child> {
            let (_, ifindex) = self.ips.iter().find(|(ip, _)| ip == address)?;
            self.children.iter().find(|child| child.ifindex == *ifindex)
        }

        fn request(&self) -> Option<Request> {
            self.request
        }

        fn allows(&self, _: &Child, src: &MacAddr) -> bool {
            *src == self.allowed
        }
    }

    fn table(children: &[Child]) -> Table<'_> {
        Table {
            children,
            allowed: OUTSIDE,
            addressed: None,
            ips: &[],
            request: None,
        }
    }

    #[test]
    fn modes_round_trip_through_their_numbers() {
        for mode in Mode::MACVLAN
            .into_iter()
            .chain([Mode::IpvlanL2, Mode::IpvlanL3])
        {
            assert_eq!(Mode::from_bits(mode as u32), Some(mode));
        }
        assert_eq!(Mode::from_bits(3), None);
    }

    #[test]
    fn unicast_from_outside_goes_to_the_child_with_the_address_in_every_mode() {
        for mode in [Mode::Private, Mode::Vepa, Mode::Bridge] {
            let children = [child(10, mode), child(11, mode)];
            let verdict = arrival(
                &parent(&children),
                &children[1].mac,
                &OUTSIDE,
                &table(&children),
            );
            assert_eq!(verdict, Arrival::Child(&children[1]), "{mode:?}");
        }
        let children = [child(10, Mode::Bridge)];
        let unknown = [2, 0, 0, 0, 0, 0x42];
        let verdict = arrival(&parent(&children), &unknown, &OUTSIDE, &table(&children));
        assert_eq!(verdict, Arrival::Pass);
    }

    #[test]
    fn passthru_gets_every_unicast_and_group_frames_flood() {
        let children = [child(10, Mode::Passthru)];
        let any = [2, 0, 0, 0, 0, 0x42];
        let parent = parent(&children);
        let lookup = table(&children);
        assert_eq!(
            arrival(&parent, &any, &OUTSIDE, &lookup),
            Arrival::Child(&children[0])
        );
        assert_eq!(
            arrival(&parent, &mac::BROADCAST, &OUTSIDE, &lookup),
            Arrival::Flood
        );
        assert!(floods_to(
            &children[0],
            Origin::Outside { sender: None },
            false
        ));
    }

    #[test]
    fn source_mode_takes_only_allowed_sources() {
        let children = [child(10, Mode::Source)];
        let parent = parent(&children);
        let other = [2, 0, 0, 0, 0, 0x98];
        let to = children[0].mac;
        let lookup = table(&children);
        assert_eq!(
            arrival(&parent, &to, &OUTSIDE, &lookup),
            Arrival::Child(&children[0])
        );
        assert_eq!(arrival(&parent, &to, &other, &lookup), Arrival::Pass);
        let outside = Origin::Outside { sender: None };
        assert!(floods_to(&children[0], outside, true));
        assert!(!floods_to(&children[0], outside, false));
    }

    #[test]
    fn group_frames_from_outside_reach_every_child_but_source_mode_ones() {
        for mode in [
            Mode::Private,
            Mode::Vepa,
            Mode::Bridge,
            Mode::Passthru,
            Mode::IpvlanL2,
        ] {
            assert!(floods_to(
                &child(10, mode),
                Origin::Outside { sender: None },
                false
            ));
        }
    }

    #[test]
    fn reflected_group_frames_follow_the_senders_mode() {
        let cases = [
            // (sender, member, reaches the member, reaches the sender)
            (Mode::Vepa, Mode::Vepa, true, false),
            (Mode::Vepa, Mode::Bridge, true, false),
            (Mode::Vepa, Mode::Private, false, false),
            (Mode::Bridge, Mode::Vepa, true, false),
            (Mode::Bridge, Mode::Bridge, false, false),
            (Mode::Private, Mode::Private, false, true),
            (Mode::Private, Mode::Vepa, false, true),
            (Mode::IpvlanL2, Mode::IpvlanL2, false, false),
        ];
        for (sender_mode, member_mode, to_member, to_sender) in cases {
            let sender = child(10, sender_mode);
            let member = child(11, member_mode);
            let origin = Origin::Outside {
                sender: Some(&sender),
            };
            assert_eq!(
                floods_to(&member, origin, false),
                to_member,
                "{sender_mode:?} → {member_mode:?}"
            );
            assert_eq!(
                floods_to(&sender, origin, false),
                to_sender,
                "{sender_mode:?} → itself"
            );
        }
    }

    #[test]
    fn only_bridge_children_reach_siblings_directly() {
        let bridge = [child(10, Mode::Bridge), child(11, Mode::Bridge)];
        let lookup = table(&bridge);
        assert_eq!(
            departure(&bridge[0], &bridge[1].mac, &lookup),
            Departure::Sibling(&bridge[1])
        );
        assert_eq!(
            departure(&bridge[0], &mac::BROADCAST, &lookup),
            Departure::Flood
        );
        assert_eq!(departure(&bridge[0], &OUTSIDE, &lookup), Departure::Parent);
        assert!(floods_to(&bridge[1], Origin::Sibling(&bridge[0]), false));
        assert!(!floods_to(&bridge[0], Origin::Sibling(&bridge[0]), false));
        let mixed = [child(10, Mode::Bridge), child(11, Mode::Vepa)];
        assert_eq!(
            departure(&mixed[0], &mixed[1].mac, &table(&mixed)),
            Departure::Parent
        );
        assert!(!floods_to(&mixed[1], Origin::Sibling(&mixed[0]), false));
        for mode in [Mode::Private, Mode::Vepa, Mode::Passthru, Mode::Source] {
            let children = [child(10, mode), child(11, mode)];
            for dst in [children[1].mac, mac::BROADCAST] {
                assert_eq!(
                    departure(&children[0], &dst, &table(&children)),
                    Departure::Parent,
                    "{mode:?}"
                );
            }
        }
    }

    #[test]
    fn ipvlan_children_share_the_mac_and_are_found_by_address() {
        let shared = [2, 0, 0, 0, 0, 0xee];
        let children = [10, 11].map(|ifindex| Child {
            mac: shared,
            ..child(ifindex, Mode::IpvlanL2)
        });
        let parent = parent(&children);
        let to = |addressed| Table {
            addressed,
            ..table(&children)
        };
        assert_eq!(
            arrival(&parent, &shared, &OUTSIDE, &to(Some(11))),
            Arrival::Child(&children[1])
        );
        assert_eq!(
            arrival(&parent, &shared, &OUTSIDE, &to(None)),
            Arrival::Pass
        );
        assert_eq!(
            arrival(&parent, &mac::BROADCAST, &OUTSIDE, &to(None)),
            Arrival::Flood
        );
        assert_eq!(
            departure(&children[0], &shared, &to(Some(11))),
            Departure::Sibling(&children[1])
        );
        assert_eq!(
            departure(&children[0], &shared, &to(None)),
            Departure::Host,
            "the shared address, but no child's IP: the parent's stack"
        );
        assert_eq!(
            departure(&children[0], &OUTSIDE, &to(Some(11))),
            Departure::Parent
        );
        assert_eq!(
            departure(&children[0], &mac::BROADCAST, &to(None)),
            Departure::Flood
        );
        assert!(floods_to(
            &children[1],
            Origin::Sibling(&children[0]),
            false
        ));
        assert!(!floods_to(
            &children[0],
            Origin::Sibling(&children[0]),
            false
        ));
    }

    /// Two ipvlan L3 children with the shared MAC, at 10.0.0.10 and 10.0.0.11.
    fn l3_children() -> [Child; 2] {
        [10, 11].map(|ifindex| Child {
            mac: SHARED,
            ..child(ifindex, Mode::IpvlanL3)
        })
    }

    const SHARED: MacAddr = [2, 0, 0, 0, 0, 0xee];
    const L3_IPS: [(Address, u32); 2] = [
        (crate::ipvlan::v4([10, 0, 0, 10]), 10),
        (crate::ipvlan::v4([10, 0, 0, 11]), 11),
    ];

    fn arp(sender: [u8; 4], target: [u8; 4]) -> Request {
        Request::Arp {
            sender_mac: OUTSIDE,
            sender,
            target,
        }
    }

    #[test]
    fn ipvlan_l3_answers_for_its_children_and_floods_nothing() {
        let children = l3_children();
        let parent = parent(&children);
        let with = |request| Table {
            ips: &L3_IPS,
            request,
            ..table(&children)
        };
        let outside_asks = arp([10, 0, 0, 100], [10, 0, 0, 11]);
        assert_eq!(
            arrival(
                &parent,
                &mac::BROADCAST,
                &OUTSIDE,
                &with(Some(outside_asks))
            ),
            Arrival::Answer {
                request: outside_asks,
                answer: SHARED
            }
        );
        for request in [
            None,
            Some(arp([10, 0, 0, 100], [10, 0, 0, 12])),
            // A child's own request, reflected by the outside.
            Some(arp([10, 0, 0, 10], [10, 0, 0, 11])),
        ] {
            assert_eq!(
                arrival(&parent, &mac::BROADCAST, &OUTSIDE, &with(request)),
                Arrival::Pass,
                "{request:?}"
            );
        }
        for member in &children {
            assert!(!floods_to(member, Origin::Outside { sender: None }, true));
            assert!(!floods_to(member, Origin::Sibling(&children[0]), true));
        }
        let sibling_asks = arp([10, 0, 0, 10], [10, 0, 0, 11]);
        assert_eq!(
            departure(&children[0], &mac::BROADCAST, &with(Some(sibling_asks))),
            Departure::Answer {
                request: sibling_asks,
                answer: SHARED
            }
        );
        for request in [
            None,
            Some(arp([10, 0, 0, 10], [10, 0, 0, 100])),
            Some(arp([10, 0, 0, 11], [10, 0, 0, 10])),
        ] {
            assert_eq!(
                departure(&children[0], &mac::BROADCAST, &with(request)),
                Departure::Parent,
                "{request:?}: out of the parent, to no sibling"
            );
        }
    }

    #[test]
    fn ipvlan_l3_routes_unicast_by_address_whatever_the_mac() {
        let children = l3_children();
        let parent = parent(&children);
        let to = |addressed| Table {
            addressed,
            ips: &L3_IPS,
            ..table(&children)
        };
        let gateway = [2, 0, 0, 0, 0, 0x01];
        for dst in [SHARED, gateway] {
            assert_eq!(
                departure(&children[0], &dst, &to(Some(11))),
                Departure::Sibling(&children[1])
            );
            assert_eq!(
                arrival(&parent, &dst, &OUTSIDE, &to(Some(10))),
                Arrival::Child(&children[0])
            );
        }
        assert_eq!(
            departure(&children[0], &gateway, &to(None)),
            Departure::Parent
        );
        assert_eq!(departure(&children[0], &SHARED, &to(None)), Departure::Host);
        assert_eq!(
            departure(&children[0], &gateway, &to(Some(10))),
            Departure::Parent
        );
    }
}
