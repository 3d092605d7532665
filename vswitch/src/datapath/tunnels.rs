//! The VXLAN maps: tunnels by VNI and by VLAN, their remote VTEPs, and the underlays.

use vswitch_common::{
    fdb::FdbKey,
    vxlan::{NextHop, RemoteSet, Tunnel, Underlay, Vtep},
};

use super::{
    DatapathError, Maps,
    maps::{Guarded, replace_whole, unless_missing},
};

impl Maps {
    /// Adds or replaces a tunnel, under its VNI and its VLAN.
    pub fn set_tunnel(&mut self, tunnel: Tunnel) -> Result<(), DatapathError> {
        let what = format!("writing the tunnel of VNI {}", tunnel.vni);
        self.writes.before(Guarded::Ports)?;
        let vlan = u32::from(tunnel.port.pvid);
        let replaced =
            self.tunnels.get(&tunnel.vni, 0).is_ok() || self.tunnel_vlans.get(&vlan, 0).is_ok();
        self.tunnels
            .insert(tunnel.vni, tunnel, 0)
            .map_err(DatapathError::map(&what))?;
        self.tunnel_vlans
            .insert(vlan, tunnel, 0)
            .map_err(DatapathError::map(&what))?;
        if replaced {
            self.writes.freed(Guarded::Ports);
        }
        Ok(())
    }

    /// Removes the tunnel of `vni` carrying `vlan`, its remote VTEPs, and every FDB entry
    /// behind them.
    pub fn remove_tunnel(&mut self, vni: u32, vlan: u16) -> Result<(), DatapathError> {
        let what = format!("removing the tunnel of VNI {vni}");
        self.writes.before(Guarded::Ports)?;
        unless_missing(self.tunnel_vlans.remove(&u32::from(vlan)))
            .map_err(DatapathError::map(&what))?;
        unless_missing(self.tunnels.remove(&vni)).map_err(DatapathError::map(&what))?;
        self.writes.freed(Guarded::Ports);
        self.set_remotes(vni, RemoteSet::EMPTY)?;
        let behind: Vec<FdbKey> = self
            .fdb_entries()?
            .into_iter()
            .filter(|(key, entry)| key.vlan == vlan && entry.is_remote())
            .map(|(key, _)| key)
            .collect();
        for key in &behind {
            self.remove_fdb(key)?;
        }
        Ok(())
    }

    /// The VNIs that have a tunnel.
    pub fn tunnel_vnis(&self) -> Result<Vec<u32>, DatapathError> {
        self.tunnels
            .keys()
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map("reading the tunnels"))
    }

    /// The tunnel of `vni`, if there is one.
    pub fn tunnel(&self, vni: u32) -> Option<Tunnel> {
        self.tunnels.get(&vni, 0).ok()
    }

    /// The tunnel carrying `vlan`, if there is one.
    pub fn tunnel_of_vlan(&self, vlan: u16) -> Option<Tunnel> {
        self.tunnel_vlans.get(&u32::from(vlan), 0).ok()
    }

    /// Replaces the remote VTEPs `vni` floods to, whole; an empty set removes it.
    pub fn set_remotes(&mut self, vni: u32, set: RemoteSet) -> Result<(), DatapathError> {
        let what = format!("writing the remote VTEPs of VNI {vni}");
        let value = (set.len != 0).then_some(set);
        replace_whole(&mut self.writes, &mut self.tunnel_flood, vni, value, what)
    }

    /// The remote VTEPs `vni` floods to.
    pub fn remotes(&self, vni: u32) -> RemoteSet {
        self.tunnel_flood.get(&vni, 0).unwrap_or(RemoteSet::EMPTY)
    }

    /// Adds or replaces the underlay with `ifindex`.
    pub fn set_underlay(&mut self, ifindex: u32, underlay: Underlay) -> Result<(), DatapathError> {
        self.writes.before(Guarded::Ports)?;
        let replaced = self.underlays.get(&ifindex, 0).is_ok();
        self.underlays
            .insert(ifindex, underlay, 0)
            .map_err(DatapathError::map(format!("writing underlay {ifindex}")))?;
        if replaced {
            self.writes.freed(Guarded::Ports);
        }
        Ok(())
    }

    /// Removes the underlay with `ifindex`.
    pub fn remove_underlay(&mut self, ifindex: u32) -> Result<(), DatapathError> {
        self.writes.before(Guarded::Ports)?;
        unless_missing(self.underlays.remove(&ifindex))
            .map_err(DatapathError::map(format!("removing underlay {ifindex}")))?;
        self.writes.freed(Guarded::Ports);
        Ok(())
    }

    /// The ifindexes that have an underlay entry.
    pub fn underlay_ifindexes(&self) -> Result<Vec<u32>, DatapathError> {
        self.underlays
            .keys()
            .collect::<Result<_, _>>()
            .map_err(DatapathError::map("reading the underlays"))
    }

    /// Sets how to reach `remote`, if that changed.
    pub fn set_next_hop(&mut self, remote: Vtep, next_hop: NextHop) -> Result<(), DatapathError> {
        let old = self.next_hops.get(&remote, 0).ok();
        if old == Some(next_hop) {
            return Ok(());
        }
        self.writes.before(Guarded::Flood)?;
        self.next_hops
            .insert(remote, next_hop, 0)
            .map_err(DatapathError::map("writing a next hop"))?;
        if old.is_some() {
            self.writes.freed(Guarded::Flood);
        }
        Ok(())
    }

    /// Forgets how to reach every remote VTEP but those in `keep`.
    pub fn retain_next_hops(&mut self, keep: &[Vtep]) -> Result<(), DatapathError> {
        let stale: Vec<Vtep> = self
            .next_hops
            .keys()
            .collect::<Result<Vec<_>, _>>()
            .map_err(DatapathError::map("reading the next hops"))?
            .into_iter()
            .filter(|remote| !keep.contains(remote))
            .collect();
        for remote in stale {
            self.writes.before(Guarded::Flood)?;
            unless_missing(self.next_hops.remove(&remote))
                .map_err(DatapathError::map("removing a next hop"))?;
            self.writes.freed(Guarded::Flood);
        }
        Ok(())
    }
}
