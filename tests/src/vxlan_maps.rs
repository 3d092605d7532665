//! What the agent writes for a VXLAN tunnel, for the BPF_PROG_TEST_RUN suites: the fixture's
//! underlay `u0` carries VNI 100 for VLAN 1, with two remote VTEPs and their next hops.

use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    port::{PORT_F_LEARNING, PortConfig},
    vxlan::{NextHop, RemoteSet, Tunnel, Underlay, Vtep, vtep_v4},
};

use crate::datapath::Fixture;

/// The tunnel's VNI.
pub const VNI: u32 = 100;
/// The counter slot of the tunnel's port.
pub const TUNNEL_SLOT: u32 = 10;
/// The counter slot of the underlay.
pub const UNDERLAY_SLOT: u32 = 11;
/// The next hop's MAC address.
pub const NEXT_HOP_MAC: [u8; 6] = [0x02, 0xbb, 0, 0, 0, 1];
/// The underlay's MAC address.
pub const UNDERLAY_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];

/// `fd00::LAST`.
pub fn v6(last: u8) -> Vtep {
    let mut address = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    address[15] = last;
    address
}

/// The tunnel's addresses: local, and two remotes.
#[derive(Clone, Copy)]
pub struct Addresses {
    /// The local VTEP.
    pub local: Vtep,
    /// Two remote VTEPs.
    pub remotes: [Vtep; 2],
}

/// The IPv4 tunnel's addresses.
pub const V4: Addresses = Addresses {
    local: vtep_v4([192, 0, 2, 1]),
    remotes: [vtep_v4([192, 0, 2, 2]), vtep_v4([192, 0, 2, 3])],
};

/// The IPv6 tunnel's addresses.
pub fn v6_addresses() -> Addresses {
    Addresses {
        local: v6(1),
        remotes: [v6(2), v6(3)],
    }
}

/// The tunnel VNI 100 for VLAN 1 on `underlay`, as the datapath holds it.
pub const fn tunnel_of(underlay: u32, addresses: Addresses) -> Tunnel {
    Tunnel {
        vni: VNI,
        underlay,
        dstport: 4789,
        _pad: [0; 3],
        local: addresses.local,
        port: PortConfig::access(TUNNEL_SLOT, 1, PORT_F_LEARNING),
    }
}

/// Writes what the agent writes for `[[vxlan]] vni = 100, vlan = 1` on `u0`.
pub fn tunnel(fx: &mut Fixture, addresses: Addresses) {
    let underlay = fx.underlay;
    fx.maps.reset_stats(TUNNEL_SLOT).unwrap();
    fx.maps.reset_stats(UNDERLAY_SLOT).unwrap();
    fx.maps
        .set_underlay(
            underlay,
            Underlay {
                slot: UNDERLAY_SLOT,
                dstport: 4789,
                _pad: 0,
            },
        )
        .unwrap();
    fx.maps.set_tunnel(tunnel_of(underlay, addresses)).unwrap();
    let mut set = RemoteSet::EMPTY;
    set.remotes[..2].copy_from_slice(&addresses.remotes);
    set.len = 2;
    fx.maps.set_remotes(VNI, set).unwrap();
    for remote in addresses.remotes {
        fx.maps
            .set_next_hop(
                remote,
                NextHop {
                    ifindex: underlay,
                    mtu: 1500,
                    dst_mac: NEXT_HOP_MAC,
                    src_mac: UNDERLAY_MAC,
                    _pad: 0,
                },
            )
            .unwrap();
    }
}

/// A static FDB entry of `mac` in VLAN 1 behind `remote`.
pub fn remote_entry(fx: &mut Fixture, mac: [u8; 6], remote: Vtep) {
    let location = Location {
        ifindex: fx.underlay,
        remote,
    };
    fx.maps
        .set_fdb(FdbKey { mac, vlan: 1 }, FdbEntry::fixed(location))
        .unwrap();
}

/// The counters of the tunnel's port.
pub fn tunnel_stats(fx: &Fixture) -> vswitch_common::stats::PortStats {
    fx.maps.port_stats(TUNNEL_SLOT).unwrap()
}
