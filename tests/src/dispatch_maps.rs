//! What the agent writes for a dispatch parent, for the BPF_PROG_TEST_RUN suites: the
//! fixture's `u0` is the parent and its ports `p2` and `p3` are the children. With the
//! host-side [`Lookup`] over the same children, a test can ask `vswitch_common::dispatch` what
//! the datapath must do.

use vswitch::datapath::ChildKeys;
use vswitch_common::{
    dispatch::{CHILD_F_PEER, Child, Lookup, MAX_CHILDREN, Mode, Parent},
    frame::ETH_HLEN,
    ipvlan::{self, Address},
    mac::MacAddr,
    neighbour::{self, Request},
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
/// The ipvlan children's IPv6 addresses.
pub const CHILD_IPS6: [[u8; 16]; 2] = [ipv6(9), ipv6(2)];
/// The outside station's IPv4 address.
pub const OUTSIDE_IP: [u8; 4] = [192, 168, 0, 100];
/// The outside station's IPv6 address.
pub const OUTSIDE_IP6: [u8; 16] = ipv6(100);

/// `fd77::n`.
const fn ipv6(n: u8) -> [u8; 16] {
    [0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]
}

/// The IP addresses of ipvlan child `n` (0 or 1), as the `ADDRESSES` map holds them.
fn addresses(n: usize) -> [Address; 2] {
    [ipvlan::v4(CHILD_IPS[n]), CHILD_IPS6[n]]
}

/// Writes what the agent writes for a `[[macvlan]]` (or `[[ipvlan]]`) on `u0` with children
/// `p2` and `p3` in `mode`, the source-mode ones accepting `OUTSIDE`. Returns the children.
pub fn parent(fx: &mut Fixture, mode: Mode) -> [Child; 2] {
    let ipvlan = mode.is_ipvlan();
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
    for (n, (slot, child)) in set.children.iter_mut().zip(&children).enumerate() {
        *slot = child.ifindex;
        let addresses = if ipvlan {
            addresses(n).to_vec()
        } else {
            vec![]
        };
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

    fn by_ifindex(&self, ifindex: u32) -> Option<&'a Child> {
        self.children.iter().find(|child| child.ifindex == ifindex)
    }

    fn by_address(&self) -> Option<&'a Child> {
        self.by_ip(&ipvlan::destination(self.frame)?)
    }

    fn by_ip(&self, address: &Address) -> Option<&'a Child> {
        let ipvlan = self.children[0].mode().is_some_and(Mode::is_ipvlan);
        (0..2)
            .find(|n| ipvlan && addresses(*n).contains(address))
            .map(|n| &self.children[n])
    }

    fn request(&self) -> Option<Request> {
        neighbour::request(self.frame, ETH_HLEN)
    }

    fn allows(&self, child: &Child, src: &MacAddr) -> bool {
        child.mode == Mode::Source as u32 && *src == OUTSIDE
    }
}
