//! A port's `mtu`: the values a config file (and so a live `port add`) may give it.
//!
//! The limits were measured on Linux 6.18 with veths: a veth takes 68 to 65535; while an XDP
//! program without multi-buffer support (`xdp.frags`) is attached to one end, the other end
//! takes at most 3506 (`maxmtu 3506` in `ip -d link`: one 4 KiB page less the XDP headroom, the
//! `skb_shared_info` and the Ethernet header), and an IPv6 address needs 1280.

use std::net::IpAddr;

use super::Hook;

/// The smallest MTU of an Ethernet device (`ETH_MIN_MTU`), a veth's minimum.
pub const MIN: u32 = 68;
/// The largest MTU of an Ethernet device (`ETH_MAX_MTU`), a veth's maximum.
pub const MAX: u32 = 65535;
/// The largest MTU of an XDP port: vswitch's XDP switching programs take single-buffer frames
/// only, which must fit one 4 KiB page.
pub const XDP_MAX: u32 = 3506;
/// The smallest MTU that carries IPv6 (below it the kernel takes IPv6 off the device).
pub const IPV6_MIN: u32 = 1280;
/// The MTU the kernel gives a new veth, which a created port without `mtu` has.
pub const VETH_DEFAULT: u32 = 1500;

/// Checks `mtu` for a port at `hook` whose namespace end gets `addresses`; the reason when
/// refused.
pub fn check(mtu: i64, hook: Hook, addresses: &[(IpAddr, u8)]) -> Result<u32, String> {
    let mtu = u32::try_from(mtu)
        .ok()
        .filter(|mtu| (MIN..=MAX).contains(mtu))
        .ok_or_else(|| format!("mtu must be from {MIN} to {MAX}"))?;
    if hook == Hook::Xdp && mtu > XDP_MAX {
        return Err(format!(
            "mtu {mtu} is more than an XDP port takes ({XDP_MAX}: the XDP programs handle \
             single-buffer frames only); use hook = \"tc\" for larger frames"
        ));
    }
    if mtu < IPV6_MIN && addresses.iter().any(|(address, _)| address.is_ipv6()) {
        return Err(format!(
            "mtu {mtu} is too small for an IPv6 address, which needs {IPV6_MIN}"
        ));
    }
    Ok(mtu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_is_within_what_a_veth_takes() {
        assert_eq!(check(9000, Hook::Tc, &[]), Ok(9000));
        assert_eq!(check(MIN.into(), Hook::Tc, &[]), Ok(MIN));
        assert_eq!(check(MAX.into(), Hook::Tc, &[]), Ok(MAX));
        for bad in [0, 67, 65536, -1] {
            assert_eq!(
                check(bad, Hook::Tc, &[]),
                Err("mtu must be from 68 to 65535".to_string())
            );
        }
    }

    #[test]
    fn xdp_ports_take_single_buffer_frames_only() {
        assert_eq!(check(XDP_MAX.into(), Hook::Xdp, &[]), Ok(XDP_MAX));
        assert!(
            check(9000, Hook::Xdp, &[])
                .unwrap_err()
                .starts_with("mtu 9000 is more than an XDP port takes (3506")
        );
    }

    #[test]
    fn ipv6_needs_1280() {
        let v6 = [("fd00::1".parse().expect("an address"), 64)];
        let v4 = [("10.0.0.1".parse().expect("an address"), 24)];
        assert!(check(1279, Hook::Tc, &v6).is_err());
        assert_eq!(check(1280, Hook::Tc, &v6), Ok(1280));
        assert_eq!(check(576, Hook::Tc, &v4), Ok(576));
    }
}
