//! From configured ports to what the datapath's maps hold.

use std::collections::BTreeMap;

use vswitch_common::{
    MAX_FLOOD_PORTS,
    fdb::FdbKey,
    flood_group::{Arrival, FloodGroup, GroupMember},
    mac,
    port::{FloodSet, PORT_F_LEARNING, PORT_F_LOCKED, PORT_F_REDIRECT_PEER, PortConfig},
};

use crate::{
    config::{Hook, PortKind, PortSpec, VlanMode},
    state::PortRecord,
};

/// A configured port that exists, with the slot of its counters.
#[derive(Clone, Debug)]
pub struct Port {
    /// The configuration.
    pub spec: PortSpec,
    /// Interface index.
    pub ifindex: u32,
    /// Counter slot, from 1.
    pub slot: u32,
}

impl Port {
    /// The entry of the `PORTS` map.
    pub fn config(&self) -> PortConfig {
        let mut flags = 0;
        if self.spec.learning {
            flags |= PORT_F_LEARNING;
        }
        // Veth peers in another namespace: deliver straight to them.
        if self.spec.redirect_peer {
            flags |= PORT_F_REDIRECT_PEER;
        }
        if self.spec.locked {
            flags |= PORT_F_LOCKED;
        }
        let mut config = match &self.spec.vlan {
            VlanMode::Access(vid) => PortConfig::access(self.slot, *vid, flags),
            VlanMode::Trunk { vlans, native } => {
                let mut config = PortConfig::access(self.slot, native.unwrap_or(0), flags);
                for vid in vlans {
                    config.tagged.insert(*vid);
                }
                config
            }
        };
        config.max_macs = self.spec.max_macs.unwrap_or(0);
        config.flood_pps = self.spec.flood_pps.unwrap_or(0);
        config
    }

    /// The static FDB entries of the port's `allowed_macs`: each address in each of its VLANs.
    pub fn allowed_entries(&self) -> Vec<FdbKey> {
        let vlans = self.spec.vlan.members();
        self.spec
            .allowed_macs
            .iter()
            .flat_map(|mac| {
                vlans.iter().map(|vlan| FdbKey {
                    mac: *mac,
                    vlan: *vlan,
                })
            })
            .collect()
    }

    /// What `port show` reports.
    pub fn record(&self) -> PortRecord {
        let (mode, vlan, trunk) = match &self.spec.vlan {
            VlanMode::Access(vid) => ("access", Some(*vid), Vec::new()),
            VlanMode::Trunk { vlans, native } => ("trunk", *native, vlans.clone()),
        };
        PortRecord {
            name: self.spec.name.clone(),
            ifindex: self.ifindex,
            slot: self.slot,
            mode: mode.to_string(),
            vlan,
            trunk,
            hook: self.spec.hook,
            datapath: None,
            offload: None,
            netns: match &self.spec.kind {
                PortKind::Veth { netns, .. } => Some(netns.clone()),
                PortKind::Existing => None,
            },
            learning: self.spec.learning,
            mtu: self.spec.mtu,
            redirect_peer: self.spec.redirect_peer,
            max_macs: self.spec.max_macs,
            flood_pps: self.spec.flood_pps,
            locked: self.spec.locked,
            allowed_macs: self
                .spec
                .allowed_macs
                .iter()
                .map(|mac| mac::Colons(mac).to_string())
                .collect(),
            live: false,
            created: Vec::new(),
        }
    }

    /// The port a record describes, as far as a record can: a veth port's addresses are not
    /// recorded (they are already set on the peer), nor an offload.
    pub fn from_record(record: &PortRecord) -> Self {
        let vlan = if record.mode == "trunk" {
            VlanMode::Trunk {
                vlans: record.trunk.clone(),
                native: record.vlan,
            }
        } else {
            VlanMode::Access(record.vlan.unwrap_or(vswitch_common::vlan::DEFAULT_VLAN))
        };
        Self {
            spec: PortSpec {
                name: record.name.clone(),
                kind: match &record.netns {
                    Some(netns) => PortKind::Veth {
                        netns: netns.clone(),
                        addresses: Vec::new(),
                    },
                    None => PortKind::Existing,
                },
                vlan,
                hook: record.hook,
                learning: record.learning,
                offload: None,
                mtu: record.mtu,
                // Records of agents before the field: only created veths had it.
                redirect_peer: record.redirect_peer || record.netns.is_some(),
                max_macs: record.max_macs,
                flood_pps: record.flood_pps,
                locked: record.locked,
                allowed_macs: record
                    .allowed_macs
                    .iter()
                    .filter_map(|text| mac::parse(text))
                    .collect(),
            },
            ifindex: record.ifindex,
            slot: record.slot,
        }
    }
}

/// The flood set of every VLAN that has members. Validation bounds each at `MAX_FLOOD_PORTS`.
pub fn flood_sets(ports: &[Port]) -> BTreeMap<u16, FloodSet> {
    let mut sets: BTreeMap<u16, FloodSet> = BTreeMap::new();
    for port in ports {
        for vid in port.spec.vlan.members() {
            let set = sets.entry(vid).or_insert(FloodSet::EMPTY);
            if (set.len as usize) < MAX_FLOOD_PORTS {
                set.ifindex[set.len as usize] = port.ifindex;
                set.len += 1;
            }
        }
    }
    sets
}

/// The plain XDP flood groups of the ports, by key (see `vswitch_common::flood_group`), given
/// each port's `PORTS` entry as `config` makes it.
///
/// A VLAN has a group when an XDP port can flood it (only XDP ports' floods use groups) and all
/// its members send its frames alike: all untagged, or all tagged. Its frames that arrive that
/// way then leave every member unchanged. A blocked port is no member; a VLAN with more members
/// than a group holds has none, and its floods keep the egress program.
pub fn flood_groups(
    ports: &[Port],
    config: impl Fn(&Port) -> PortConfig,
) -> BTreeMap<u32, FloodGroup> {
    let mut vlans: BTreeMap<u16, (bool, Vec<(Arrival, GroupMember)>)> = BTreeMap::new();
    for port in ports {
        let config = config(port);
        for vid in port.spec.vlan.members() {
            let (has_xdp, members) = vlans.entry(vid).or_default();
            *has_xdp |= port.spec.hook == Hook::Xdp;
            if let Some(arrival) = Arrival::kept_by(&config, vid) {
                let member = GroupMember {
                    ifindex: port.ifindex,
                    slot: port.slot,
                };
                members.push((arrival, member));
            }
        }
    }
    let mut groups = BTreeMap::new();
    for (vid, (has_xdp, members)) in vlans {
        let Some(&(arrival, _)) = members.first() else {
            continue;
        };
        if !has_xdp || members.iter().any(|(other, _)| *other != arrival) {
            continue;
        }
        let mut group = FloodGroup::EMPTY;
        if members.iter().all(|(_, member)| group.push(*member)) {
            groups.insert(arrival.key(vid), group);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use vswitch_common::port::Egress;

    use super::*;

    fn port(name: &str, ifindex: u32, vlan: VlanMode) -> Port {
        Port {
            spec: PortSpec::plain(name.to_string(), PortKind::Existing, vlan, Hook::Xdp, true),
            ifindex,
            slot: ifindex,
        }
    }

    #[test]
    fn flood_sets_group_ports_by_vlan() {
        let ports = [
            port("a", 1, VlanMode::Access(10)),
            port("b", 2, VlanMode::Access(20)),
            port(
                "t",
                3,
                VlanMode::Trunk {
                    vlans: vec![10, 20],
                    native: Some(1),
                },
            ),
        ];
        let sets = flood_sets(&ports);
        let members = |vid| {
            let set = &sets[&vid];
            set.ifindex[..set.len as usize].to_vec()
        };
        assert_eq!(members(10), [1, 3]);
        assert_eq!(members(20), [2, 3]);
        assert_eq!(members(1), [3]);
    }

    fn trunk(name: &str, ifindex: u32, vlans: &[u16], native: Option<u16>) -> Port {
        let vlans = vlans.to_vec();
        port(name, ifindex, VlanMode::Trunk { vlans, native })
    }

    fn group_members(groups: &BTreeMap<u32, FloodGroup>, arrival: Arrival, vid: u16) -> Vec<u32> {
        groups
            .get(&arrival.key(vid))
            .map_or_else(Vec::new, |group| {
                group
                    .members()
                    .iter()
                    .map(|member| member.ifindex)
                    .collect()
            })
    }

    #[test]
    fn a_vlan_whose_members_all_send_alike_is_a_group() {
        let ports = [
            port("a", 1, VlanMode::Access(10)),
            port("b", 2, VlanMode::Access(10)),
            trunk("t", 3, &[20], Some(10)),
            trunk("u", 4, &[20], None),
        ];
        let groups = flood_groups(&ports, Port::config);
        assert_eq!(group_members(&groups, Arrival::Untagged, 10), [1, 2, 3]);
        assert_eq!(group_members(&groups, Arrival::Tagged, 20), [3, 4]);
        assert_eq!(groups.len(), 2);
        let member = groups[&Arrival::Untagged.key(10)].members()[2];
        assert_eq!((member.ifindex, member.slot), (3, 3));
    }

    #[test]
    fn a_vlan_with_tagged_and_untagged_members_has_no_group() {
        let ports = [
            port("a", 1, VlanMode::Access(10)),
            trunk("t", 2, &[10], None),
        ];
        assert!(flood_groups(&ports, Port::config).is_empty());
    }

    #[test]
    fn a_blocked_port_is_no_member_and_spoils_no_group() {
        let ports = [
            port("a", 1, VlanMode::Access(10)),
            port("b", 2, VlanMode::Access(10)),
            trunk("t", 3, &[10], None),
        ];
        let blocked = |port: &Port| {
            let mut config = port.config();
            if port.ifindex == 3 {
                config.flags |= vswitch_common::port::PORT_F_BLOCKED;
            }
            config
        };
        let groups = flood_groups(&ports, blocked);
        assert_eq!(group_members(&groups, Arrival::Untagged, 10), [1, 2]);
    }

    #[test]
    fn only_vlans_an_xdp_port_floods_have_groups() {
        let mut ports = [
            port("a", 1, VlanMode::Access(10)),
            port("b", 2, VlanMode::Access(10)),
            port("c", 3, VlanMode::Access(20)),
        ];
        for port in &mut ports[..2] {
            port.spec.hook = Hook::Tc;
        }
        let groups = flood_groups(&ports, Port::config);
        assert!(group_members(&groups, Arrival::Untagged, 10).is_empty());
        assert_eq!(group_members(&groups, Arrival::Untagged, 20), [3]);
    }

    #[test]
    fn a_vlan_with_more_members_than_a_group_holds_has_none() {
        let ports: Vec<Port> = (1..=MAX_FLOOD_PORTS as u32 + 1)
            .map(|n| port(&format!("p{n}"), n, VlanMode::Access(10)))
            .collect();
        assert!(flood_groups(&ports, Port::config).is_empty());
        assert_eq!(flood_groups(&ports[1..], Port::config).len(), 1);
    }

    #[test]
    fn a_record_gives_back_the_port_it_was_made_from() {
        let mut trunk = port(
            "t",
            3,
            VlanMode::Trunk {
                vlans: vec![10, 20],
                native: Some(1),
            },
        );
        trunk.spec.learning = false;
        trunk.spec.mtu = Some(9000);
        let back = Port::from_record(&trunk.record());
        assert_eq!(back.spec, trunk.spec);
        assert_eq!((back.ifindex, back.slot), (3, 3));
    }

    #[test]
    fn trunk_config_tags_its_vlans_and_strips_native() {
        let trunk = port(
            "t",
            3,
            VlanMode::Trunk {
                vlans: vec![10],
                native: None,
            },
        )
        .config();
        assert_eq!(trunk.pvid, 0);
        assert_eq!(trunk.egress(10), Egress::Tagged);
        assert!(trunk.has(PORT_F_LEARNING));
        assert!(!trunk.has(PORT_F_REDIRECT_PEER));
    }
}
