//! What the agent writes for a dispatch parent, for the BPF_PROG_TEST_RUN suites: the
//! fixture's `u0` is the parent and its ports `p2` and `p3` are the children. With the
//! host-side [`Lookup`] over the same children, a test can ask `vswitch_common::dispatch` what
//! the datapath must do.

use vswitch::datapath::ChildKeys;
use vswitch_common::{
    dispatch::{CHILD_F_PEER, Child, Lookup, MAX_CHILDREN, Mode, Parent},
    ipvlan,
    mac::MacAddr,
};

use crate::datapath::Fixture;

/// The parent's counter slot.
pub const PARENT_SLOT: u32 = 20;
/// The children's counter slots.
pub const CHILD_SLOTS: [u32; 2] = [21, 22];
/// The children's MAC addresses.
pub const CHILD_MACS: [[u8; 6]; 2] = [[2, 0x77, 0, 0, 0, 1], [2, 0x77, 0, 0, 0, 2]];
/// A station outside, behind the parent.
pub const OUTSIDE: [u8; 6] = [2, 0x77, 0, 0, 0, 0x64];

/// The parent's MAC address, which ipvlan children share.
pub const PARENT_MAC: [u8; 6] = [2, 0x77, 0, 0, 0, 0xfe];
/// The ipvlan children's IPv4 addresses: the second is `ipv4_udp`'s destination.
pub const CHILD_IPS: [[u8; 4]; 2] = [[192, 168, 0, 9], [192, 168, 0, 2]];

/// Writes what the agent writes for a `[[macvlan]]` (or `[[ipvlan]]`) on `u0` with children
/// `p2` and `p3` in `mode`, the source-mode ones accepting `OUTSIDE`. Returns the children.
pub fn parent(fx: &mut Fixture, mode: Mode) -> [Child; 2] {
    let ipvlan = mode == Mode::IpvlanL2;
    let children = [0, 1].map(|n| Child {
        ifindex: fx.ifindex(n + 1),
        parent: fx.underlay,
        mode: mode as u32,
        flags: CHILD_F_PEER,
        slot: CHILD_SLOTS[n],
        mac: if ipvlan { PARENT_MAC } else { CHILD_MACS[n] },
        _pad: [0; 2],
    });
    let sources: &[[u8; 6]] = if mode == Mode::Source {
        &[OUTSIDE]
    } else {
        &[]
    };
    let mut set = Parent {
        slot: PARENT_SLOT,
        mode: mode as u32,
        passthru: 0,
        len: 2,
        children: [0; MAX_CHILDREN],
    };
    for ((slot, child), ip) in set.children.iter_mut().zip(&children).zip(CHILD_IPS) {
        *slot = child.ifindex;
        let addresses = if ipvlan { vec![ipvlan::v4(ip)] } else { vec![] };
        let keys = ChildKeys {
            sources,
            addresses: &addresses,
        };
        fx.maps.set_child(*child, keys).unwrap();
    }
    if mode == Mode::Passthru {
        set.len = 1;
        set.passthru = children[0].ifindex;
    }
    fx.maps.set_parent(fx.underlay, Some(set)).unwrap();
    for slot in [PARENT_SLOT, CHILD_SLOTS[0], CHILD_SLOTS[1]] {
        fx.maps.reset_stats(slot).unwrap();
    }
    children
}

/// The children [`parent`] configured, looked up as the datapath's maps would.
pub struct Configured<'f> {
    /// The children.
    pub children: [Child; 2],
    /// The frame whose IP destination ipvlan children are found by.
    pub frame: &'f [u8],
}

impl<'a> Lookup<'a> for &'a Configured<'_> {
    fn by_mac(&self, mac: &MacAddr) -> Option<&'a Child> {
        self.children.iter().find(|child| child.mac == *mac)
    }

    fn by_address(&self) -> Option<&'a Child> {
        let address = ipvlan::destination(self.frame)?;
        let ipvlan = self.children[0].mode == Mode::IpvlanL2 as u32;
        CHILD_IPS
            .iter()
            .position(|ip| ipvlan && ipvlan::v4(*ip) == address)
            .map(|n| &self.children[n])
    }

    fn allows(&self, child: &Child, src: &MacAddr) -> bool {
        child.mode == Mode::Source as u32 && *src == OUTSIDE
    }
}
