//! Interface facts read with `ip -j` inside a namespace: index, address, counters.

use crate::command::run_in;

/// Counters of one interface.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Frames the interface dropped on transmit.
    pub tx_dropped: u64,
    /// Frames transmitted (a veth's peer receives them through the veth's own transmit path;
    /// `bpf_redirect_peer` bypasses it).
    pub tx_packets: u64,
}

fn show(netns: &str, ifname: &str, stats: bool) -> serde_json::Value {
    let mut args = vec!["ip", "-j"];
    if stats {
        args.push("-s");
    }
    args.extend(["link", "show", "dev", ifname]);
    let json = run_in(netns, &args);
    let mut links: serde_json::Value = serde_json::from_str(&json).expect("ip -j prints JSON");
    links[0].take()
}

/// The interface index of `ifname` in `netns`.
pub fn ifindex(netns: &str, ifname: &str) -> u32 {
    show(netns, ifname, false)["ifindex"]
        .as_u64()
        .and_then(|index| u32::try_from(index).ok())
        .expect("a link has an index")
}

/// The MAC address of `ifname` in `netns`, in wire order.
pub fn mac(netns: &str, ifname: &str) -> [u8; 6] {
    let text = show(netns, ifname, false)["address"]
        .as_str()
        .expect("a link has an address")
        .to_string();
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(text.split(':')) {
        *byte = u8::from_str_radix(part, 16).expect("hex digits");
    }
    mac
}

/// The counters of `ifname` in `netns`.
pub fn counters(netns: &str, ifname: &str) -> LinkCounters {
    let link = show(netns, ifname, true);
    let stats = &link["stats64"];
    LinkCounters {
        rx_packets: stats["rx"]["packets"].as_u64().unwrap_or(0),
        tx_dropped: stats["tx"]["dropped"].as_u64().unwrap_or(0),
        tx_packets: stats["tx"]["packets"].as_u64().unwrap_or(0),
    }
}
