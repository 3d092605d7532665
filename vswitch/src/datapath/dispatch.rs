//! The dispatch maps: macvlan-style children by ifindex, by (parent, MAC) and ipvlan ones by
//! (parent, IP address), the sources source-mode children accept, and each parent's set of
//! children.

use vswitch_common::{
    dispatch::{Child, ChildKey, Mode, Parent, SourceKey},
    ipvlan::{Address, AddressKey},
    mac::MacAddr,
};

use super::{
    DatapathError, Maps,
    maps::{Guarded, replace_whole, unless_missing},
};

/// What a child is found by besides its ifindex.
#[derive(Clone, Copy, Debug)]
pub struct ChildKeys<'a> {
    /// Source mode: the addresses it accepts frames from.
    pub sources: &'a [MacAddr],
    /// ipvlan: its IP addresses (it shares the parent's MAC, so it has no `DISPATCH` entry).
    pub addresses: &'a [Address],
}

impl Maps {
    /// Adds a child under its ifindex and its (parent, MAC) or (parent, IP address), with its
    /// devmap entry and the sources it accepts.
    pub fn set_child(&mut self, child: Child, keys: ChildKeys<'_>) -> Result<(), DatapathError> {
        let what = format!("adding dispatch child {}", child.ifindex);
        for mac in keys.sources {
            self.sources
                .insert(SourceKey::new(child.ifindex, *mac), 0, 0)
                .map_err(DatapathError::map(&what))?;
        }
        self.writes.before(Guarded::Ports)?;
        let mut replaced = self.children.get(&child.ifindex, 0).is_ok();
        self.children
            .insert(child.ifindex, child, 0)
            .map_err(DatapathError::map(&what))?;
        if !child.mode().is_some_and(Mode::is_ipvlan) {
            let key = ChildKey::new(child.parent, child.mac);
            replaced |= self.dispatch.get(&key, 0).is_ok();
            self.dispatch
                .insert(key, child, 0)
                .map_err(DatapathError::map(&what))?;
        }
        for address in keys.addresses {
            let key = AddressKey {
                parent: child.parent,
                address: *address,
            };
            replaced |= self.addresses.get(&key, 0).is_ok();
            self.addresses
                .insert(key, child, 0)
                .map_err(DatapathError::map(&what))?;
        }
        if replaced {
            self.writes.freed(Guarded::Ports);
        }
        self.child_tx
            .insert(child.ifindex, child.ifindex, None, 0)
            .map_err(|source| DatapathError::DevMap { what, source })
    }

    /// Removes a child, its devmap entry, its addresses and its sources.
    pub fn remove_child(
        &mut self,
        child: &Child,
        keys: ChildKeys<'_>,
    ) -> Result<(), DatapathError> {
        let what = format!("removing dispatch child {}", child.ifindex);
        self.writes.before(Guarded::Ports)?;
        if !child.mode().is_some_and(Mode::is_ipvlan) {
            unless_missing(
                self.dispatch
                    .remove(&ChildKey::new(child.parent, child.mac)),
            )
            .map_err(DatapathError::map(&what))?;
        }
        for address in keys.addresses {
            let key = AddressKey {
                parent: child.parent,
                address: *address,
            };
            unless_missing(self.addresses.remove(&key)).map_err(DatapathError::map(&what))?;
        }
        unless_missing(self.children.remove(&child.ifindex)).map_err(DatapathError::map(&what))?;
        self.writes.freed(Guarded::Ports);
        unless_missing(self.child_tx.remove(child.ifindex)).map_err(DatapathError::map(&what))?;
        for mac in keys.sources {
            unless_missing(self.sources.remove(&SourceKey::new(child.ifindex, *mac)))
                .map_err(DatapathError::map(&what))?;
        }
        Ok(())
    }

    /// Empties every dispatch map, as a new agent does before it makes anew the children a
    /// previous one left.
    pub fn clear_dispatch(&mut self) -> Result<(), DatapathError> {
        let what = "clearing the dispatch maps";
        self.writes.before(Guarded::Ports)?;
        self.writes.before(Guarded::Flood)?;
        macro_rules! clear {
            ($map:expr) => {
                for key in $map
                    .keys()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(DatapathError::map(what))?
                {
                    unless_missing($map.remove(&key)).map_err(DatapathError::map(what))?;
                }
            };
        }
        clear!(self.parents);
        clear!(self.children);
        clear!(self.dispatch);
        clear!(self.addresses);
        clear!(self.sources);
        self.writes.freed(Guarded::Ports);
        self.writes.freed(Guarded::Flood);
        for key in self
            .child_tx
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(DatapathError::map(what))?
        {
            unless_missing(self.child_tx.remove(key)).map_err(DatapathError::map(what))?;
        }
        Ok(())
    }

    /// Replaces the parent `ifindex` whole; `None` removes it.
    pub fn set_parent(
        &mut self,
        ifindex: u32,
        parent: Option<Parent>,
    ) -> Result<(), DatapathError> {
        let what = format!("writing dispatch parent {ifindex}");
        replace_whole(&mut self.writes, &mut self.parents, ifindex, parent, what)
    }
}
