//! `vswitch dev` for the kinds the host kernel lacks (issues 4 and 13): made in a test
//! namespace and read back with `ip -d -j`, and switch ports on them.
//!
//! These tests run only in the Debian 6.1 guest, through `cargo xtask test --vm`; elsewhere
//! they panic saying so, rather than pass without testing anything.

use tests::{
    command::{pings, run_in},
    devices::{dev_ok, ip_link, shown},
    names::unique,
    netns::Netns,
    switch::Switch,
};

/// The kernel series these tests are meant for: the guest's.
const GUEST_SERIES: &str = "6.1.";

/// A fresh namespace, after checking that this is the guest's kernel.
fn guest_netns() -> Netns {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("reading osrelease");
    assert!(
        release.starts_with(GUEST_SERIES),
        "vm_devices runs only in the {GUEST_SERIES}x guest kernel (`cargo xtask test --vm`), \
         not on kernel {}",
        release.trim()
    );
    Netns::new(&unique("vm"))
}

#[test]
fn dummy() {
    let ns = guest_netns();
    dev_ok(&ns, &["add", "dummy", "vmd0", "--mtu", "9000", "--up"]);
    let link = ip_link(&ns, "vmd0");
    assert_eq!(link["linkinfo"]["info_kind"], "dummy", "{link}");
    assert_eq!(link["mtu"], 9000, "{link}");
}

#[test]
fn vlan_and_802_1ad_on_dummy() {
    let ns = guest_netns();
    dev_ok(&ns, &["add", "dummy", "vmd0"]);
    dev_ok(
        &ns,
        &["add", "vlan", "vmd0.10", "--parent", "vmd0", "--id", "10"],
    );
    dev_ok(
        &ns,
        &[
            "add",
            "vlan",
            "vmd0.20",
            "--parent",
            "vmd0",
            "--id",
            "20",
            "--protocol",
            "802.1ad",
        ],
    );
    for (name, id, protocol, shown_protocol) in [
        ("vmd0.10", 10, "802.1Q", "802.1q"),
        ("vmd0.20", 20, "802.1ad", "802.1ad"),
    ] {
        let link = ip_link(&ns, name);
        assert_eq!(link["linkinfo"]["info_kind"], "vlan", "{link}");
        assert_eq!(link["linkinfo"]["info_data"]["id"], id, "{link}");
        assert_eq!(
            link["linkinfo"]["info_data"]["protocol"], protocol,
            "{link}"
        );
        assert_eq!(link["link"], "vmd0", "{link}");
        let shown = shown(&ns, name);
        assert_eq!(shown["info"]["protocol"], shown_protocol);
        assert_eq!(shown["parent"], "vmd0");
    }
}

#[test]
fn ipvlan_modes_on_dummy() {
    let ns = guest_netns();
    // The mode belongs to the parent's ipvlan port: every child of one parent has the mode
    // of the last one made, so each mode gets its own parent.
    dev_ok(&ns, &["add", "dummy", "vmd0"]);
    dev_ok(&ns, &["add", "dummy", "vmd1"]);
    dev_ok(&ns, &["add", "ipvlan", "vmiv0", "--parent", "vmd0"]);
    dev_ok(
        &ns,
        &["add", "ipvlan", "vmiv1", "--parent", "vmd1", "--mode", "l3"],
    );
    for (name, mode) in [("vmiv0", "l2"), ("vmiv1", "l3")] {
        let link = ip_link(&ns, name);
        assert_eq!(link["linkinfo"]["info_kind"], "ipvlan", "{link}");
        assert_eq!(link["linkinfo"]["info_data"]["mode"], mode, "{link}");
        assert_eq!(shown(&ns, name)["info"]["mode"], mode);
    }
}

#[test]
fn bridge_with_vlan_filtering() {
    let ns = guest_netns();
    dev_ok(&ns, &["add", "bridge", "vmbr0", "--vlan-filtering"]);
    let link = ip_link(&ns, "vmbr0");
    assert_eq!(link["linkinfo"]["info_data"]["vlan_filtering"], 1, "{link}");
    assert_eq!(shown(&ns, "vmbr0")["info"]["vlan_filtering"], true);
}

#[test]
fn netdevsim_with_ports_and_vfs() {
    let ns = guest_netns();
    dev_ok(
        &ns,
        &["add", "netdevsim", "vmsim", "--ports", "2", "--vfs", "2"],
    );
    for name in ["vmsim", "vmsim-1"] {
        let link = ip_link(&ns, name);
        assert_eq!(link["parentbus"], "netdevsim", "{link}");
    }
    let id = shown(&ns, "vmsim")["info"]["id"]
        .as_u64()
        .expect("a netdevsim id");
    let vfs = std::fs::read_to_string(format!(
        "/sys/bus/netdevsim/devices/netdevsim{id}/sriov_numvfs"
    ))
    .expect("reading sriov_numvfs");
    assert_eq!(vfs.trim(), "2");
    dev_ok(&ns, &["del", "vmsim"]);
    assert!(!std::path::Path::new(&format!("/sys/bus/netdevsim/devices/netdevsim{id}")).exists());
}

#[test]
fn switch_ports_on_dummy_and_vlan_devices() {
    let ns = guest_netns();
    dev_ok(&ns, &["add", "dummy", "vmxd0", "--up"]);
    dev_ok(
        &ns,
        &[
            "add", "vlan", "vmxd0.10", "--parent", "vmxd0", "--id", "10", "--up",
        ],
    );
    let config = "[[port]]\nname = \"vmxd0\"\nexisting = true\n\
                  [[port]]\nname = \"vmxd0.10\"\nexisting = true\nhook = \"tc\"\n";
    let switch = Switch::start(&ns, config);
    let datapaths: Vec<(String, String)> = switch
        .rows(&["port", "show"])
        .iter()
        .map(|port| {
            (
                port["name"].as_str().expect("a name").to_string(),
                port["datapath"].as_str().expect("a datapath").to_string(),
            )
        })
        .collect();
    // A dummy has no driver XDP: the XDP program runs in the generic path.
    let expected = [("vmxd0", "generic"), ("vmxd0.10", "tc")].map(|(a, b)| (a.into(), b.into()));
    assert_eq!(datapaths, expected);
}

#[test]
fn a_bond_of_two_veths_as_an_uplink_port() {
    let (sw, far, host) = (guest_netns(), guest_netns(), guest_netns());
    // Two links between the switch and the far side, bonded at both ends.
    for link in ["vma", "vmb"] {
        dev_ok(
            &sw,
            &[
                "add",
                "veth",
                link,
                "--peer",
                &format!("{link}p"),
                "--peer-netns",
                far.name(),
            ],
        );
    }
    dev_ok(
        &far,
        &[
            "add",
            "bond",
            "vmfar",
            "--member",
            "vmap",
            "--member",
            "vmbp",
            "--address",
            "10.81.0.2/24",
            "--up",
        ],
    );
    let config = format!(
        "[[device]]\nkind = \"bond\"\nname = \"vmup\"\nmode = \"active-backup\"\n\
         members = [\"vma\", \"vmb\"]\nup = true\n\n\
         [[port]]\nname = \"vmup\"\nexisting = true\nhook = \"tc\"\n\n\
         [[port]]\nname = \"vmh\"\nnetns = \"{}\"\naddress = [\"10.81.0.1/24\"]\n",
        host.name()
    );
    let switch = Switch::start(&sw, &config);
    let bond = ip_link(&sw, "vmup");
    assert_eq!(bond["linkinfo"]["info_kind"], "bond", "{bond}");
    assert_eq!(
        bond["linkinfo"]["info_data"]["mode"], "active-backup",
        "{bond}"
    );
    assert_eq!(ip_link(&sw, "vma")["master"], "vmup");
    assert!(
        pings(host.name(), "10.81.0.2"),
        "no ping through the bond port"
    );
    let stats = switch.stats_of("vmup");
    assert!(
        stats["tx_packets"].as_u64().expect("a counter") > 0,
        "{stats}"
    );
    assert!(switch.stop().success());
    // The agent made the bond; it is gone, its members are not.
    let links = run_in(sw.name(), &["ip", "-j", "link"]);
    assert!(
        !links.contains("\"vmup\"") && links.contains("\"vma\""),
        "{links}"
    );
}

#[test]
fn team_vcan_vxcan_and_nlmon() {
    let ns = guest_netns();
    dev_ok(&ns, &["add", "team", "vmteam0"]);
    dev_ok(&ns, &["add", "vcan", "vmcan0"]);
    dev_ok(&ns, &["add", "vxcan", "vmxc0", "--peer", "vmxc1"]);
    dev_ok(&ns, &["add", "nlmon", "vmnl0", "--up"]);
    for (name, kind) in [
        ("vmteam0", "team"),
        ("vmcan0", "vcan"),
        ("vmxc0", "vxcan"),
        ("vmxc1", "vxcan"),
        ("vmnl0", "nlmon"),
    ] {
        let link = ip_link(&ns, name);
        assert_eq!(link["linkinfo"]["info_kind"], kind, "{link}");
        assert_eq!(shown(&ns, name)["kind"], kind);
    }
    assert_eq!(ip_link(&ns, "vmcan0")["link_type"], "can");
    assert!(ip_link(&ns, "vmnl0")["flags"].to_string().contains("UP"));
}

#[test]
fn macsec_on_a_dummy_parent() {
    let ns = guest_netns();
    dev_ok(&ns, &["add", "dummy", "vmmd0"]);
    dev_ok(
        &ns,
        &[
            "add",
            "macsec",
            "vmms0",
            "--parent",
            "vmmd0",
            "--port",
            "5",
            "--encrypt",
            "true",
        ],
    );
    let link = ip_link(&ns, "vmms0");
    let data = &link["linkinfo"]["info_data"];
    assert_eq!(link["linkinfo"]["info_kind"], "macsec", "{link}");
    assert_eq!(link["link"], "vmmd0", "{link}");
    assert_eq!(data["encrypt"], true, "{link}");
    let shown = shown(&ns, "vmms0");
    assert_eq!(shown["parent"], "vmmd0");
    assert_eq!(shown["info"]["encrypt"], true);
    // The secure channel identifier: the parent's MAC and the port, as both read it.
    let sci = |value: &serde_json::Value| {
        let text = value.as_str().expect("an SCI string");
        u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("a hexadecimal SCI")
    };
    assert_eq!(sci(&shown["info"]["sci"]), sci(&data["sci"]), "{link}");
    assert_eq!(sci(&shown["info"]["sci"]) & 0xffff, 5);
}

#[test]
fn ip_tunnels_with_their_endpoints() {
    let ns = guest_netns();
    dev_ok(&ns, &["add", "dummy", "vmtd0", "--up"]);
    for (kind, local, remote) in [
        ("ipip", "192.0.2.2", "192.0.2.1"),
        ("sit", "192.0.2.2", "192.0.2.3"),
        ("gre", "192.0.2.2", "192.0.2.4"),
        ("ip6tnl", "2001:db8::2", "2001:db8::1"),
        ("ip6gre", "2001:db8::2", "2001:db8::3"),
    ] {
        let name = format!("vmt{kind}");
        dev_ok(
            &ns,
            &[
                "add", kind, &name, "--local", local, "--remote", remote, "--ttl", "32", "--dev",
                "vmtd0",
            ],
        );
        let link = ip_link(&ns, &name);
        let data = &link["linkinfo"]["info_data"];
        assert_eq!(link["linkinfo"]["info_kind"], kind, "{link}");
        assert_eq!(data["local"], local, "{link}");
        assert_eq!(data["remote"], remote, "{link}");
        let ttl = data.get("ttl").or_else(|| data.get("hoplimit"));
        assert_eq!(ttl, Some(&serde_json::json!(32)), "{link}");
        let shown = shown(&ns, &name);
        assert_eq!(shown["kind"], kind);
        assert_eq!(shown["info"]["local"], local);
        assert_eq!(shown["info"]["remote"], remote);
        assert_eq!(shown["info"]["ttl"], 32);
    }
    dev_ok(
        &ns,
        &["add", "gre", "vmtgk", "--remote", "192.0.2.9", "--key", "7"],
    );
    let link = ip_link(&ns, "vmtgk");
    assert!(link["linkinfo"]["info_data"]["ikey"].is_string(), "{link}");
    assert_eq!(shown(&ns, "vmtgk")["info"]["key"], 7);
}
