//! What the other nodes published, as this agent knows it: per VNI, their VTEPs (the flood
//! list) and where their stations are. Each change says which FDB entries and flood lists the
//! agent has to rewrite; records of this node itself are not kept.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use vswitch_common::mac::MacAddr;

use super::keys::{Key, Record};

/// A station behind a remote VTEP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteMac {
    /// The VNI.
    pub vni: u32,
    /// The station.
    pub mac: MacAddr,
    /// The VTEP it is behind.
    pub vtep: IpAddr,
    /// Its IP address, if its host published one: requests for it are answered locally.
    pub ip: Option<IpAddr>,
}

/// What a change means for the maps.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Remote entries to write.
    pub set: Vec<RemoteMac>,
    /// Remote entries to remove (as they were written).
    pub removed: Vec<RemoteMac>,
    /// VNIs whose flood list changed.
    pub flood: BTreeSet<u32>,
}

/// The other nodes' records.
#[derive(Debug)]
pub struct Table {
    node: String,
    vteps: BTreeMap<u32, BTreeMap<String, IpAddr>>,
    /// Where each station is: its VTEP and IP address.
    macs: BTreeMap<(u32, MacAddr), (IpAddr, Option<IpAddr>)>,
}

impl Table {
    /// An empty table for the agent of node `node`.
    pub fn new(node: &str) -> Self {
        Self {
            node: node.to_string(),
            vteps: BTreeMap::new(),
            macs: BTreeMap::new(),
        }
    }

    /// The remote VTEPs of `vni`.
    pub fn vteps(&self, vni: u32) -> impl Iterator<Item = IpAddr> + '_ {
        self.vteps
            .get(&vni)
            .into_iter()
            .flat_map(|by_node| by_node.values().copied())
    }

    /// How many remote stations it knows.
    pub fn mac_count(&self) -> usize {
        self.macs.len()
    }

    /// Replaces everything with a fresh listing (after a (re)connect).
    pub fn replace(&mut self, records: Vec<Record>) -> Changes {
        let mut fresh = Self::new(&self.node);
        for record in records {
            fresh.put(record);
        }
        let mut changes = Changes::default();
        for (&(vni, mac), &(vtep, ip)) in &self.macs {
            if fresh.macs.get(&(vni, mac)).is_none_or(|now| now.1 != ip) {
                changes.removed.push(RemoteMac { vni, mac, vtep, ip });
            }
        }
        changes.set = fresh
            .macs
            .iter()
            .map(|(&(vni, mac), &(vtep, ip))| RemoteMac { vni, mac, vtep, ip })
            .collect();
        let vnis: BTreeSet<u32> = self
            .vteps
            .keys()
            .chain(fresh.vteps.keys())
            .copied()
            .collect();
        changes.flood = vnis
            .into_iter()
            .filter(|vni| self.vteps.get(vni) != fresh.vteps.get(vni))
            .collect();
        *self = fresh;
        changes
    }

    /// A record was written.
    pub fn put(&mut self, record: Record) -> Changes {
        let mut changes = Changes::default();
        let own = record.node() == self.node;
        match record {
            Record::Node(..) => {}
            Record::Vtep { .. } if own => {}
            Record::Vtep { vni, node, value } => {
                let by_node = self.vteps.entry(vni).or_default();
                if by_node.insert(node, value.vtep) != Some(value.vtep) {
                    changes.flood.insert(vni);
                }
            }
            // The station is here now: whatever the table said about it is stale.
            Record::Mac { vni, mac, .. } if own => {
                if let Some((vtep, ip)) = self.macs.remove(&(vni, mac)) {
                    changes.removed.push(RemoteMac { vni, mac, vtep, ip });
                }
            }
            Record::Mac { vni, mac, value } => {
                let now = (value.vtep, value.ip);
                match self.macs.insert((vni, mac), now) {
                    Some(before) if before == now => {}
                    before => {
                        // An address that changed is no longer answered for.
                        if let Some((vtep, ip @ Some(_))) = before
                            && ip != value.ip
                        {
                            changes.removed.push(RemoteMac { vni, mac, vtep, ip });
                        }
                        changes.set.push(RemoteMac {
                            vni,
                            mac,
                            vtep: value.vtep,
                            ip: value.ip,
                        });
                    }
                }
            }
        }
        changes
    }

    /// A key was deleted (by its node, or with its node's lease).
    pub fn delete(&mut self, key: &Key) -> Changes {
        let mut changes = Changes::default();
        match key {
            Key::Node(_) => {}
            Key::Vtep { vni, node } => {
                if let Some(by_node) = self.vteps.get_mut(vni)
                    && by_node.remove(node).is_some()
                {
                    if by_node.is_empty() {
                        self.vteps.remove(vni);
                    }
                    changes.flood.insert(*vni);
                }
            }
            Key::Mac { vni, mac } => {
                if let Some((vtep, ip)) = self.macs.remove(&(*vni, *mac)) {
                    changes.removed.push(RemoteMac {
                        vni: *vni,
                        mac: *mac,
                        vtep,
                        ip,
                    });
                }
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::keys::{MacValue, VtepValue};

    const MAC: MacAddr = [2, 0, 0, 0, 0, 1];

    fn vtep(node: &str, ip: &str) -> Record {
        Record::Vtep {
            vni: 100,
            node: node.into(),
            value: VtepValue {
                vtep: ip.parse().unwrap(),
            },
        }
    }

    fn mac(node: &str, ip: &str) -> Record {
        Record::Mac {
            vni: 100,
            mac: MAC,
            value: MacValue {
                node: node.into(),
                vtep: ip.parse().unwrap(),
                vlan: 10,
                ip: None,
            },
        }
    }

    #[test]
    fn remote_records_become_entries_and_flood_lists() {
        let mut table = Table::new("a");
        let changes = table.put(vtep("b", "192.0.2.2"));
        assert_eq!(changes.flood, BTreeSet::from([100]));
        assert_eq!(
            table.vteps(100).collect::<Vec<_>>(),
            ["192.0.2.2".parse::<IpAddr>().unwrap()]
        );
        let changes = table.put(mac("b", "192.0.2.2"));
        assert_eq!(changes.set.len(), 1);
        // The same record again changes nothing.
        assert_eq!(table.put(mac("b", "192.0.2.2")), Changes::default());
        let changes = table.delete(&Key::Mac { vni: 100, mac: MAC });
        assert_eq!(changes.removed.len(), 1);
        let changes = table.delete(&Key::Vtep {
            vni: 100,
            node: "b".into(),
        });
        assert_eq!(changes.flood, BTreeSet::from([100]));
        assert_eq!(table.vteps(100).count(), 0);
    }

    #[test]
    fn a_new_address_replaces_the_old_one() {
        let mut table = Table::new("a");
        let with_ip = |ip: &str| Record::Mac {
            vni: 100,
            mac: MAC,
            value: MacValue {
                node: "b".into(),
                vtep: "192.0.2.2".parse().unwrap(),
                vlan: 10,
                ip: Some(ip.parse().unwrap()),
            },
        };
        let changes = table.put(with_ip("10.0.0.1"));
        assert_eq!(changes.set[0].ip, Some("10.0.0.1".parse().unwrap()));
        let changes = table.put(with_ip("10.0.0.2"));
        assert_eq!(changes.removed[0].ip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(changes.set[0].ip, Some("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn own_records_are_not_remote() {
        let mut table = Table::new("a");
        assert_eq!(table.put(vtep("a", "192.0.2.1")), Changes::default());
        table.put(mac("b", "192.0.2.2"));
        // The station moved here: the remote entry goes.
        let changes = table.put(mac("a", "192.0.2.1"));
        assert_eq!(changes.removed.len(), 1);
        assert_eq!(table.mac_count(), 0);
    }

    #[test]
    fn a_new_listing_removes_what_vanished_meanwhile() {
        let mut table = Table::new("a");
        table.put(vtep("b", "192.0.2.2"));
        table.put(mac("b", "192.0.2.2"));
        let changes = table.replace(vec![vtep("c", "192.0.2.3")]);
        assert_eq!(changes.removed.len(), 1);
        assert!(changes.set.is_empty());
        assert_eq!(changes.flood, BTreeSet::from([100]));
        assert_eq!(
            table.vteps(100).collect::<Vec<_>>(),
            ["192.0.2.3".parse::<IpAddr>().unwrap()]
        );
    }
}
