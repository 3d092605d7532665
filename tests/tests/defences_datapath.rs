//! BPF_PROG_TEST_RUN on the datapath's defences, one test per branch and both hooks: locked
//! ports, static stations that cannot be moved, the per-port `max_macs` budget and the
//! `flood_pps` storm limit, and the loop guard's block and move count.
//!
//! Same fixture as `datapath.rs`: three access ports of VLAN 1 (`p1`..`p3`, here ports 0..2).

use tests::{
    datapath::{AGEING_NS, TC_ACT_SHOT, XDP_DROP, XDP_REDIRECT, access, with_datapath},
    frames::{ethernet, station},
};
use vswitch::agent::monotonic_ns;
use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    mac::BROADCAST,
    port::PORT_F_BLOCKED,
    stats::DropReason,
    switch::SwitchConfig,
};

/// What the XDP program returns for a frame it passes on here: flooded or forwarded, both by
/// redirect.
const PASSED_XDP: u32 = XDP_REDIRECT;

#[test]
fn a_locked_port_drops_frames_from_unknown_sources_and_learns_nothing() {
    with_datapath(access(), |fx| {
        fx.reconfigure(0, |spec| {
            spec.locked = true;
            spec.learning = false;
        });
        let p1 = fx.ifindex(0);
        assert_eq!(fx.xdp(p1, &ethernet(station(2), station(1), 1)), XDP_DROP);
        assert_eq!(fx.tc(p1, &ethernet(station(2), station(1), 2)), TC_ACT_SHOT);
        let stats = fx.stats(0);
        assert_eq!(stats.drops[DropReason::Locked as usize], 2);
        assert_eq!(stats.forwarded + stats.flooded + stats.learned, 0);
        assert!(fx.fdb(station(1)).is_none());
    });
}

#[test]
fn a_locked_port_passes_its_allowed_addresses() {
    with_datapath(access(), |fx| {
        fx.reconfigure(0, |spec| {
            spec.locked = true;
            spec.learning = false;
            spec.allowed_macs = vec![station(1)];
        });
        let p1 = fx.ifindex(0);
        assert_eq!(fx.xdp(p1, &ethernet(station(2), station(1), 3)), PASSED_XDP);
        assert_eq!(fx.stats(0).flooded, 1);
        assert_eq!(fx.stats(0).drops[DropReason::Locked as usize], 0);
        let entry = fx.fdb(station(1)).expect("the allowed address is static");
        assert!(entry.is_static() && entry.ifindex == p1);
        // A learned entry on the locked port does not open it: only static ones do.
        fx.learn(station(5), 0, monotonic_ns());
        assert_eq!(fx.xdp(p1, &ethernet(station(2), station(5), 4)), XDP_DROP);
        assert_eq!(fx.stats(0).drops[DropReason::Locked as usize], 1);
    });
}

#[test]
fn a_static_station_cannot_be_moved_or_spoofed_from_another_port() {
    with_datapath(access(), |fx| {
        let (p1, p2) = (fx.ifindex(0), fx.ifindex(1));
        fx.maps
            .set_fdb(
                FdbKey {
                    mac: station(2),
                    vlan: 1,
                },
                FdbEntry::fixed(Location::port(p2)),
            )
            .unwrap();
        assert_eq!(fx.xdp(p1, &ethernet(station(3), station(2), 5)), XDP_DROP);
        assert_eq!(fx.tc(p1, &ethernet(station(3), station(2), 6)), TC_ACT_SHOT);
        assert_eq!(fx.stats(0).drops[DropReason::StaticMove as usize], 2);
        assert_eq!(fx.fdb(station(2)).map(|entry| entry.ifindex), Some(p2));
        // From its own port, the station talks.
        assert_eq!(fx.xdp(p2, &ethernet(station(3), station(2), 7)), PASSED_XDP);
        assert_eq!(fx.stats(1).drops[DropReason::StaticMove as usize], 0);
    });
}

#[test]
fn max_macs_stops_learning_but_not_forwarding() {
    with_datapath(access(), |fx| {
        fx.reconfigure(0, |spec| spec.max_macs = Some(2));
        let p1 = fx.ifindex(0);
        for n in 1..=3 {
            assert_eq!(
                fx.xdp(p1, &ethernet(station(9), station(n), 10 + u32::from(n))),
                PASSED_XDP,
                "a refused source's frame is still switched"
            );
        }
        // The TCX path refuses the same way.
        fx.tc(p1, &ethernet(station(9), station(4), 14));
        let stats = fx.stats(0);
        assert_eq!((stats.learned, stats.learn_refused), (2, 2));
        assert_eq!(fx.macs_held(0), 2);
        assert!(fx.fdb(station(1)).is_some() && fx.fdb(station(2)).is_some());
        assert!(fx.fdb(station(3)).is_none() && fx.fdb(station(4)).is_none());
        // Known stations keep refreshing; the agent's deletion frees room.
        fx.xdp(p1, &ethernet(station(9), station(1), 15));
        assert_eq!(fx.stats(0).learn_refused, 2);
        fx.maps
            .remove_fdb(&FdbKey {
                mac: station(1),
                vlan: 1,
            })
            .unwrap();
        assert_eq!(fx.macs_held(0), 1);
        fx.xdp(p1, &ethernet(station(9), station(3), 16));
        assert!(fx.fdb(station(3)).is_some());
        assert_eq!(fx.macs_held(0), 2);
    });
}

#[test]
fn a_move_takes_the_entry_from_one_port_s_count_to_the_other_s() {
    with_datapath(access(), |fx| {
        fx.reconfigure(0, |spec| spec.max_macs = Some(1));
        fx.reconfigure(1, |spec| spec.max_macs = Some(1));
        let (p1, p2) = (fx.ifindex(0), fx.ifindex(1));
        fx.xdp(p1, &ethernet(station(9), station(1), 20));
        assert_eq!((fx.macs_held(0), fx.macs_held(1)), (1, 0));
        fx.xdp(p2, &ethernet(station(9), station(1), 21));
        assert_eq!(fx.fdb(station(1)).map(|entry| entry.ifindex), Some(p2));
        assert_eq!((fx.macs_held(0), fx.macs_held(1)), (0, 1));
        // p1 has room again; p2 is full, so a station moving there stays where it was.
        fx.xdp(p1, &ethernet(station(9), station(2), 22));
        assert_eq!(fx.macs_held(0), 1);
        fx.xdp(p2, &ethernet(station(9), station(2), 23));
        assert_eq!(fx.fdb(station(2)).map(|entry| entry.ifindex), Some(p1));
        assert_eq!(fx.stats(1).learn_refused, 1);
        assert_eq!((fx.macs_held(0), fx.macs_held(1)), (1, 1));
    });
}

#[test]
fn flood_pps_drops_floods_over_the_rate_but_never_known_unicast() {
    with_datapath(access(), |fx| {
        // One frame a second: one passes, and the next credit is a second away.
        fx.reconfigure(0, |spec| spec.flood_pps = Some(1));
        let p1 = fx.ifindex(0);
        let verdicts: Vec<u32> = (0..20)
            .map(|n| fx.xdp(p1, &ethernet(BROADCAST, station(1), 30 + n)))
            .collect();
        assert_eq!(verdicts[0], PASSED_XDP);
        assert!(verdicts[1..].iter().all(|verdict| *verdict == XDP_DROP));
        // Unknown unicast floods too, through either hook (the TCX path drops the original of
        // every flood: the counter tells the limit's drop apart).
        assert_eq!(
            fx.tc(p1, &ethernet(station(9), station(1), 50)),
            TC_ACT_SHOT
        );
        assert_eq!(fx.stats(0).drops[DropReason::FloodLimit as usize], 20);
        assert_eq!(fx.stats(0).flooded, 1);
        // A known destination is forwarded whatever the bucket holds.
        fx.learn(station(2), 1, monotonic_ns());
        assert_eq!(
            fx.xdp(p1, &ethernet(station(2), station(1), 51)),
            PASSED_XDP
        );
        assert_eq!(fx.stats(0).forwarded, 1);
        // Other ports are not limited.
        let p2 = fx.ifindex(1);
        assert_eq!(fx.xdp(p2, &ethernet(BROADCAST, station(2), 52)), PASSED_XDP);
        assert_eq!(fx.stats(1).drops[DropReason::FloodLimit as usize], 0);
    });
}

#[test]
fn a_port_the_loop_guard_blocked_takes_nothing_in_and_gets_no_flood() {
    with_datapath(access(), |fx| {
        let blocked = &fx.ports[1];
        let mut config = blocked.config();
        config.flags |= PORT_F_BLOCKED;
        let egress = fx.programs.egress_fd().unwrap();
        fx.maps.set_port(blocked.ifindex, config, egress).unwrap();
        let (p1, p2) = (fx.ifindex(0), fx.ifindex(1));
        assert_eq!(fx.xdp(p2, &ethernet(BROADCAST, station(2), 60)), XDP_DROP);
        assert_eq!(fx.tc(p2, &ethernet(BROADCAST, station(2), 61)), TC_ACT_SHOT);
        assert_eq!(fx.stats(1).drops[DropReason::LoopBlocked as usize], 2);
        assert!(fx.fdb(station(2)).is_none(), "nothing is learned from it");
        // A flood from p1 leaves through p3 only.
        fx.tc(p1, &ethernet(BROADCAST, station(1), 62));
        assert_eq!((fx.stats(1).tx_packets, fx.stats(2).tx_packets), (0, 1));
    });
}

#[test]
fn a_station_moving_between_ports_is_counted_for_the_loop_guard() {
    with_datapath(access(), |fx| {
        let (p1, p2) = (fx.ifindex(0), fx.ifindex(1));
        for round in 0..3 {
            fx.xdp(p1, &ethernet(BROADCAST, station(1), 70 + 2 * round));
            fx.xdp(p2, &ethernet(BROADCAST, station(1), 71 + 2 * round));
        }
        // Learned on p1, then moved p1 -> p2 three times and p2 -> p1 twice.
        assert_eq!((fx.stats(0).moved_in, fx.stats(1).moved_in), (2, 3));
        assert_eq!(fx.stats(2).moved_in, 0);
    });
}

#[test]
fn the_switch_wide_max_macs_holds_all_ports_together_but_lets_stations_move() {
    with_datapath(access(), |fx| {
        fx.maps
            .set_switch(SwitchConfig {
                ageing_ns: AGEING_NS,
                max_macs: 2,
                ..SwitchConfig::default()
            })
            .unwrap();
        let (p1, p2) = (fx.ifindex(0), fx.ifindex(1));
        fx.xdp(p1, &ethernet(station(9), station(1), 80));
        fx.xdp(p2, &ethernet(station(9), station(2), 81));
        // The table is full for every port, though no port has a limit of its own.
        fx.xdp(p2, &ethernet(station(9), station(3), 82));
        assert!(fx.fdb(station(3)).is_none());
        assert_eq!(fx.stats(1).learn_refused, 1);
        // A station moving between ports takes no new place.
        fx.xdp(p2, &ethernet(station(9), station(1), 83));
        assert_eq!(fx.fdb(station(1)).map(|entry| entry.ifindex), Some(p2));
        // A deleted entry frees one place, for any port.
        fx.maps
            .remove_fdb(&FdbKey {
                mac: station(2),
                vlan: 1,
            })
            .unwrap();
        fx.xdp(p1, &ethernet(station(9), station(3), 84));
        assert!(fx.fdb(station(3)).is_some());
        fx.xdp(p1, &ethernet(station(9), station(4), 85));
        assert!(fx.fdb(station(4)).is_none());
    });
}
