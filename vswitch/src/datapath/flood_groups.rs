//! The plain XDP flood groups (see `vswitch_common::flood_group`): each group's members in
//! `FLOOD_GROUPS`, and a devmap without a program per group in `FLOOD_PLAIN`.
//!
//! The ingress program broadcasts through a group's devmap only while the group has its
//! `FLOOD_GROUPS` entry. So every change takes the entry out first (floods of the group then go
//! through `TX_PORTS`, whose egress program decides per port), changes the devmap, and writes
//! the entry back; a port whose configuration changes leaves its groups before its `PORTS`
//! entry changes.

use std::collections::{BTreeMap, BTreeSet};

use aya::maps::{Map, MapData, MapError, xdp::DevMapHash};
use vswitch_common::{MAX_FLOOD_PORTS, flood_group::FloodGroup, map_names};

use super::{
    DatapathError, Maps,
    maps::{replace_whole, unless_missing},
};

/// `BPF_MAP_TYPE_DEVMAP_HASH`.
const BPF_MAP_TYPE_DEVMAP_HASH: u32 = 25;
/// Size of a devmap value (`struct bpf_devmap_val`: ifindex and program fd).
const DEVMAP_VALUE_SIZE: u32 = 8;
/// The smallest group devmap: room for a few ports to join before it must be replaced.
const MIN_CAPACITY: usize = 8;

impl Maps {
    /// The flood groups the datapath uses now, by key.
    pub fn flood_groups(&self) -> Result<BTreeMap<u32, FloodGroup>, DatapathError> {
        self.flood_groups
            .iter()
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map("reading the flood groups"))
    }

    /// Makes the flood groups exactly `wanted`: those that differ are written anew, and those
    /// not wanted go.
    pub fn write_flood_groups(
        &mut self,
        wanted: &BTreeMap<u32, FloodGroup>,
    ) -> Result<(), DatapathError> {
        let current = self.flood_groups()?;
        // Also the devmaps of groups taken out of use (`leave_flood_groups`) that no VLAN wants
        // back, which must go.
        let with_devmap: Vec<u32> = self
            .flood_plain
            .keys()
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map("reading the flood groups' devmaps"))?;
        let mut keys: Vec<u32> = wanted.keys().chain(current.keys()).copied().collect();
        keys.extend(with_devmap.iter().filter(|key| !wanted.contains_key(key)));
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let new = wanted.get(&key).copied();
            let stale = new.is_none() && with_devmap.contains(&key);
            if current.get(&key).copied() != new || stale {
                self.set_flood_group(key, new)?;
            }
        }
        Ok(())
    }

    /// Makes the group of `key` hold exactly `group`'s members, or removes it (`None`).
    fn set_flood_group(
        &mut self,
        key: u32,
        group: Option<FloodGroup>,
    ) -> Result<(), DatapathError> {
        let what = format!("writing flood group {key:#x}");
        replace_whole(
            &mut self.writes,
            &mut self.flood_groups,
            key,
            None,
            what.clone(),
        )?;
        let Some(group) = group else {
            return unless_missing(self.flood_plain.remove(&key)).map_err(DatapathError::map(what));
        };
        let mut devmap = self
            .group_devmap(key, group.members().len())
            .map_err(DatapathError::map(&what))?;
        let wanted: BTreeSet<u32> = group
            .members()
            .iter()
            .map(|member| member.ifindex)
            .collect();
        let present: Vec<u32> = devmap
            .keys()
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map(&what))?;
        for ifindex in present.iter().filter(|ifindex| !wanted.contains(ifindex)) {
            unless_missing(devmap.remove(*ifindex)).map_err(DatapathError::map(&what))?;
        }
        for &ifindex in wanted.iter().filter(|ifindex| !present.contains(ifindex)) {
            devmap
                .insert(ifindex, ifindex, None, 0)
                .map_err(|source| DatapathError::DevMap {
                    what: what.clone(),
                    source,
                })?;
        }
        replace_whole(
            &mut self.writes,
            &mut self.flood_groups,
            key,
            Some(group),
            what,
        )
    }

    /// The devmap of group `key`, with room for `members`: the one it has, or a new one in its
    /// place where it has none or one too small.
    fn group_devmap(&mut self, key: u32, members: usize) -> Result<DevMapHash<MapData>, MapError> {
        let current = match self.flood_plain.get(&key, 0) {
            Ok(data) => Some(data),
            Err(MapError::KeyNotFound) => None,
            Err(error) => return Err(error),
        };
        let data = match current {
            Some(data) if data.info()?.max_entries() as usize >= members => data,
            Some(_) | None => {
                let data = plain_devmap(members)?;
                self.flood_plain.insert(key, &data, 0)?;
                data
            }
        };
        DevMapHash::try_from(Map::from_map_data(data)?)
    }

    /// Takes every group that port `ifindex` is a member of out of use, before the port's
    /// configuration changes or it goes. The agent writes the groups anew afterwards.
    pub(super) fn leave_flood_groups(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        let groups = self.flood_groups()?;
        for (key, group) in groups {
            if group
                .members()
                .iter()
                .any(|member| member.ifindex == ifindex)
            {
                replace_whole(
                    &mut self.writes,
                    &mut self.flood_groups,
                    key,
                    None,
                    format!("taking port {ifindex} out of flood group {key:#x}"),
                )?;
            }
        }
        Ok(())
    }
}

/// A new devmap for `FLOOD_PLAIN` with room for `members`.
///
/// Sized to the group, not to `FLOOD_PLAIN`'s template (a map-of-maps checks its elements'
/// type, key, value and flags, not their size): a broadcast walks every bucket of a devmap
/// hash, and with 256 buckets for 5 members that walk cost more than the program.
fn plain_devmap(members: usize) -> Result<MapData, MapError> {
    let shape = aya_obj::Map::new_from_params(
        BPF_MAP_TYPE_DEVMAP_HASH,
        size_of::<u32>() as u32,
        DEVMAP_VALUE_SIZE,
        capacity(members),
        0,
    );
    MapData::create(shape, map_names::FLOOD_PLAIN, None)
}

/// The size of a group devmap for `members`: a power of two (the buckets a devmap hash has),
/// from [`MIN_CAPACITY`] to the most members a group holds.
fn capacity(members: usize) -> u32 {
    members
        .next_power_of_two()
        .clamp(MIN_CAPACITY, MAX_FLOOD_PORTS) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_devmap_has_room_for_its_members_and_few_more() {
        assert_eq!(capacity(0), 8);
        assert_eq!(capacity(5), 8);
        assert_eq!(capacity(9), 16);
        assert_eq!(capacity(64), 64);
        for members in 1..=MAX_FLOOD_PORTS {
            assert!(capacity(members) as usize >= members);
        }
    }
}
