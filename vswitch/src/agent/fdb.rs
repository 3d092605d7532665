//! Static FDB entries added and entries removed by the operator.

use std::net::IpAddr;

use vswitch_common::{
    fdb::{FdbEntry, FdbKey, Location},
    mac::{self, MacAddr},
    port::Egress,
};

use super::{AgentError, Switch, ports::Port, tunnels};

impl Switch {
    /// Adds (or replaces) the static FDB entry `mac` in `vlan` towards port `port`. Without a
    /// VLAN, the port's untagged VLAN.
    pub fn add_static_fdb(
        &mut self,
        mac: MacAddr,
        vlan: Option<u16>,
        port: &str,
    ) -> Result<(), AgentError> {
        let (key, ifindex) = self.static_fdb_entry(mac, vlan, port)?;
        self.maps
            .set_fdb(key, FdbEntry::fixed(Location::port(ifindex)))?;
        Ok(())
    }

    /// Writes the static entries of `port`'s `allowed_macs`, and removes those that `old` (the
    /// port's previous configuration) had and it no longer has.
    pub(super) fn write_allowed(
        &mut self,
        port: &Port,
        old: Option<&Port>,
    ) -> Result<(), AgentError> {
        let keys = port.allowed_entries();
        for key in old.map(Port::allowed_entries).unwrap_or_default() {
            if !keys.contains(&key) {
                self.maps.remove_fdb(&key)?;
            }
        }
        for key in keys {
            self.maps
                .set_fdb(key, FdbEntry::fixed(Location::port(port.ifindex)))?;
        }
        Ok(())
    }

    /// The key and port ifindex of the static entry `mac` in `vlan` (without one, the port's
    /// untagged VLAN) towards port `port`, or why there can be no such entry.
    pub(super) fn static_fdb_entry(
        &self,
        mac: MacAddr,
        vlan: Option<u16>,
        port: &str,
    ) -> Result<(FdbKey, u32), AgentError> {
        let target = self
            .ports
            .iter()
            .find(|candidate| candidate.spec.name == port)
            .ok_or_else(|| AgentError::Refused(format!("switch has no port {port}")))?;
        let config = target.config();
        let vlan = match vlan {
            Some(vlan) => vlan,
            None if config.pvid != 0 => config.pvid,
            None => {
                return Err(AgentError::Refused(format!(
                    "port {port} carries no untagged VLAN: give --vlan"
                )));
            }
        };
        if config.egress(vlan) == Egress::NotMember {
            return Err(AgentError::Refused(format!(
                "port {port} is not a member of VLAN {vlan}"
            )));
        }
        Ok((FdbKey { mac, vlan }, target.ifindex))
    }

    /// Adds (or replaces) the static FDB entry `mac` behind the remote VTEP `remote`, through
    /// the tunnel of `vni` (in its VLAN; a `vlan` given must be that one).
    pub async fn add_remote_fdb(
        &mut self,
        mac: MacAddr,
        vlan: Option<u16>,
        remote: IpAddr,
        vni: u32,
    ) -> Result<(), AgentError> {
        let tunnel = self
            .tunnels
            .by_vni
            .get(&vni)
            .ok_or_else(|| AgentError::Refused(format!("switch has no VXLAN VNI {vni}")))?;
        let spec = &tunnel.spec;
        if let Some(vlan) = vlan
            && vlan != spec.vlan
        {
            return Err(AgentError::Refused(format!(
                "VNI {vni} carries VLAN {}, not {vlan}",
                spec.vlan
            )));
        }
        if remote.is_ipv4() != spec.local.is_ipv4() || remote == spec.local {
            return Err(AgentError::Refused(format!(
                "{remote} cannot be a remote VTEP of VNI {vni}, whose local VTEP is {}",
                spec.local
            )));
        }
        let ifindex = self
            .tunnels
            .underlays
            .get(&spec.underlay)
            .map(|underlay| underlay.ifindex)
            .ok_or_else(|| AgentError::Failed(format!("VNI {vni} has no underlay")))?;
        let key = FdbKey {
            mac,
            vlan: spec.vlan,
        };
        let location = Location {
            ifindex,
            remote: tunnels::vtep(remote),
        };
        self.maps.set_fdb(key, FdbEntry::fixed(location))?;
        self.refresh_remotes(&[vni])
    }

    /// Removes the FDB entry of `mac` in `vlan` (learned or static). Without a VLAN, every
    /// entry of `mac`.
    pub fn remove_fdb(&mut self, mac: MacAddr, vlan: Option<u16>) -> Result<usize, AgentError> {
        let keys: Vec<FdbKey> = self
            .maps
            .fdb_entries()?
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| key.mac == mac && vlan.is_none_or(|vlan| key.vlan == vlan))
            .collect();
        if keys.is_empty() {
            return Err(AgentError::Refused(format!(
                "no FDB entry for {}{}",
                mac::Colons(&mac),
                vlan.map_or(String::new(), |vlan| format!(" in VLAN {vlan}"))
            )));
        }
        for key in &keys {
            self.maps.remove_fdb(key)?;
        }
        Ok(keys.len())
    }
}
