//! The maps a switch keeps pinned across agent restarts, and the check that pinned maps fit
//! the object about to use them.
//!
//! A new agent reuses (adopts) the maps it finds pinned under the instance's directory, so the
//! FDB and its ages, the counters and the port table survive a restart. Maps of another
//! layout (from an older or newer vswitch) are refused before anything is loaded: mixing them
//! would have the programs read values of the wrong shape.

use std::path::Path;

use aya::maps::MapInfo;
use vswitch_common::map_names;

use super::{DatapathError, OBJECT};

/// The maps pinned under an instance's directory, by name.
pub const PINNED_MAPS: [&str; 25] = [
    map_names::PORTS,
    map_names::FDB,
    map_names::PORT_STATS,
    map_names::MAC_COUNTS,
    map_names::MAC_FORGOTTEN,
    map_names::FLOOD_BUCKETS,
    map_names::FLOOD,
    map_names::TX_PORTS,
    map_names::TX_UNICAST,
    map_names::FLOOD_GROUPS,
    map_names::FLOOD_PLAIN,
    map_names::FLOW_GENERATION,
    map_names::SWITCH,
    map_names::TUNNELS,
    map_names::TUNNEL_VLANS,
    map_names::TUNNEL_FLOOD,
    map_names::UNDERLAYS,
    map_names::NEXT_HOPS,
    map_names::CHILDREN,
    map_names::DISPATCH,
    map_names::SOURCES,
    map_names::PARENTS,
    map_names::ADDRESSES,
    map_names::CHILD_TX,
    map_names::NEIGHBOURS,
];

/// `BPF_F_RDONLY_PROG`, which the kernel sets by itself on device maps.
const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// The shape of a map: what must match for a pinned map to be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "type {}, key {} B, value {} B, {} entries, flags {:#x}",
            self.map_type, self.key_size, self.value_size, self.max_entries, self.flags
        )
    }
}

/// Checks every map pinned under `dir` against the object's definition; `Ok` when there are
/// none or all fit.
pub fn check_compatible(dir: &Path) -> Result<(), DatapathError> {
    let object = aya_obj::Object::parse(OBJECT).map_err(|error| DatapathError::Incompatible {
        dir: dir.to_path_buf(),
        reason: format!("parsing the embedded object: {error}"),
    })?;
    for name in PINNED_MAPS {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let definition = object.maps.get(name).ok_or(DatapathError::Missing(name))?;
        let wanted = Shape {
            map_type: definition.map_type(),
            key_size: definition.key_size(),
            value_size: definition.value_size(),
            max_entries: definition.max_entries(),
            flags: definition.map_flags() & !BPF_F_RDONLY_PROG,
        };
        let info = MapInfo::from_pin(&path).map_err(DatapathError::map(format!(
            "reading pinned map {}",
            path.display()
        )))?;
        let found = Shape {
            map_type: info.map_type().map_err(DatapathError::map(format!(
                "reading pinned map {}",
                path.display()
            )))? as u32,
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
            flags: info.map_flags() & !BPF_F_RDONLY_PROG,
        };
        if found != wanted {
            return Err(DatapathError::Incompatible {
                dir: dir.to_path_buf(),
                reason: format!(
                    "pinned map {name} has {found}, this vswitch needs {wanted}: it was made by \
                     another version of vswitch"
                ),
            });
        }
    }
    Ok(())
}
