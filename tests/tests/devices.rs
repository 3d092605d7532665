//! `vswitch dev`: the device kinds this kernel has, created over rtnetlink in a test
//! namespace and read back independently with `ip -d -j`; the kinds it lacks are refused with
//! exit 1 and the missing kernel feature (their creation is tested in the VM, `vm_devices`).

use tests::{
    command::{output, pings, run, run_in},
    devices::{assert_missing_feature, dev, dev_ok, ip_addresses, ip_link, shown},
    names::unique,
    netns::Netns,
    switch::{Switch, binary, vswitch_in},
};

fn netns() -> Netns {
    Netns::new(&unique("dv"))
}

#[test]
fn veth_with_the_common_options() {
    let ns = netns();
    dev_ok(
        &ns,
        &[
            "add",
            "veth",
            "vd0",
            "--peer",
            "vd0p",
            "--mtu",
            "9000",
            "--mac",
            "02:00:00:00:0d:01",
            "--address",
            "10.77.0.1/24",
            "--address",
            "fd77::1/64",
            "--up",
        ],
    );
    let link = ip_link(&ns, "vd0");
    assert_eq!(link["linkinfo"]["info_kind"], "veth", "{link}");
    assert_eq!(link["mtu"], 9000, "{link}");
    assert_eq!(link["address"], "02:00:00:00:0d:01", "{link}");
    assert_eq!(link["link"], "vd0p", "{link}");
    assert!(
        link["flags"]
            .as_array()
            .expect("flags")
            .contains(&"UP".into()),
        "{link}"
    );
    let addresses = ip_addresses(&ns, "vd0");
    for address in ["10.77.0.1/24", "fd77::1/64"] {
        assert!(addresses.contains(&address.to_string()), "{addresses:?}");
    }
    let shown = shown(&ns, "vd0");
    assert_eq!(shown["kind"], "veth");
    assert_eq!(shown["parent"], "vd0p");
    assert_eq!(shown["up"], true);
}

#[test]
fn veth_peer_in_another_namespace_and_a_device_moved_there() {
    let (ns, other) = (netns(), netns());
    dev_ok(
        &ns,
        &[
            "add",
            "veth",
            "vd1",
            "--peer",
            "vd1p",
            "--peer-netns",
            other.name(),
        ],
    );
    assert_eq!(ip_link(&other, "vd1p")["linkinfo"]["info_kind"], "veth");
    dev_ok(
        &ns,
        &[
            "add",
            "ifb",
            "vdifb",
            "--netns",
            other.name(),
            "--address",
            "10.78.0.1/24",
            "--up",
        ],
    );
    assert!(!run_in(ns.name(), &["ip", "-j", "link"]).contains("vdifb"));
    let link = ip_link(&other, "vdifb");
    assert_eq!(link["linkinfo"]["info_kind"], "ifb", "{link}");
    assert!(
        link["flags"]
            .as_array()
            .expect("flags")
            .contains(&"UP".into()),
        "{link}"
    );
    assert!(ip_addresses(&other, "vdifb").contains(&"10.78.0.1/24".to_string()));
}

#[test]
fn tap_and_tun_with_owner_and_queues() {
    let ns = netns();
    dev_ok(
        &ns,
        &["add", "tap", "vdtap", "--owner", "0", "--multi-queue"],
    );
    dev_ok(&ns, &["add", "tun", "vdtun"]);
    let tap = ip_link(&ns, "vdtap");
    let data = &tap["linkinfo"]["info_data"];
    assert_eq!(data["type"], "tap", "{tap}");
    assert_eq!(data["multi_queue"], true, "{tap}");
    assert_eq!(data["persist"], true, "{tap}");
    assert_eq!(data["user"], "root", "{tap}");
    assert_eq!(
        ip_link(&ns, "vdtun")["linkinfo"]["info_data"]["type"],
        "tun"
    );
    let shown = shown(&ns, "vdtap");
    assert_eq!(shown["info"]["type"], "tap");
    assert_eq!(shown["info"]["owner"], 0);
    dev_ok(&ns, &["del", "vdtap"]);
    assert!(!run_in(ns.name(), &["ip", "-j", "link"]).contains("vdtap"));
}

#[test]
fn vxlan_with_its_underlay() {
    let ns = netns();
    dev_ok(
        &ns,
        &["add", "veth", "vdu0", "--address", "10.79.0.1/24", "--up"],
    );
    dev_ok(
        &ns,
        &[
            "add",
            "vxlan",
            "vdx0",
            "--id",
            "4242",
            "--local",
            "10.79.0.1",
            "--remote",
            "10.79.0.2",
            "--dstport",
            "4790",
            "--dev",
            "vdu0",
            "--learning",
            "false",
        ],
    );
    let link = ip_link(&ns, "vdx0");
    let data = &link["linkinfo"]["info_data"];
    assert_eq!(link["linkinfo"]["info_kind"], "vxlan", "{link}");
    assert_eq!(data["id"], 4242, "{link}");
    assert_eq!(data["local"], "10.79.0.1", "{link}");
    assert_eq!(data["remote"], "10.79.0.2", "{link}");
    assert_eq!(data["port"], 4790, "{link}");
    assert_eq!(data["link"], "vdu0", "{link}");
    assert_eq!(data["learning"], false, "{link}");
    let shown = shown(&ns, "vdx0");
    assert_eq!(shown["info"]["id"], 4242);
    assert_eq!(shown["info"]["remote"], "10.79.0.2");
}

#[test]
fn macvlan_and_macvtap_on_a_parent() {
    let ns = netns();
    dev_ok(&ns, &["add", "veth", "vdp0"]);
    dev_ok(
        &ns,
        &[
            "add", "macvlan", "vdmv0", "--parent", "vdp0", "--mode", "private",
        ],
    );
    dev_ok(
        &ns,
        &[
            "add", "macvtap", "vdmt0", "--parent", "vdp0", "--mode", "vepa",
        ],
    );
    for (name, kind, mode) in [
        ("vdmv0", "macvlan", "private"),
        ("vdmt0", "macvtap", "vepa"),
    ] {
        let link = ip_link(&ns, name);
        assert_eq!(link["linkinfo"]["info_kind"], kind, "{link}");
        assert_eq!(link["linkinfo"]["info_data"]["mode"], mode, "{link}");
        assert_eq!(link["link"], "vdp0", "{link}");
        let shown = shown(&ns, name);
        assert_eq!(shown["info"]["mode"], mode);
        assert_eq!(shown["parent"], "vdp0");
    }
}

#[test]
fn bridge_with_stp_and_an_enslaved_port() {
    let ns = netns();
    dev_ok(&ns, &["add", "bridge", "vdbr0", "--stp", "--up"]);
    dev_ok(&ns, &["add", "veth", "vdbp0", "--master", "vdbr0"]);
    let bridge = ip_link(&ns, "vdbr0");
    assert_eq!(bridge["linkinfo"]["info_kind"], "bridge", "{bridge}");
    assert_eq!(bridge["linkinfo"]["info_data"]["stp_state"], 1, "{bridge}");
    assert_eq!(ip_link(&ns, "vdbp0")["master"], "vdbr0");
    assert_eq!(shown(&ns, "vdbp0")["master"], "vdbr0");
    assert_eq!(shown(&ns, "vdbr0")["info"]["stp"], true);
}

#[test]
fn named_namespaces() {
    let name = unique("dvn");
    let guard = Netns::owning(&name);
    let created = output(&binary().to_string_lossy(), &["dev", "add", "netns", &name]);
    assert!(created.status.success(), "{created:?}");
    assert!(run("ip", &["netns", "list"]).contains(&name));
    run_in(&name, &["ip", "link", "show", "lo"]);
    let deleted = output(&binary().to_string_lossy(), &["dev", "del", &name]);
    assert!(deleted.status.success(), "{deleted:?}");
    assert!(!run("ip", &["netns", "list"]).contains(&name));
    drop(guard);
}

#[test]
fn bad_options_are_usage_errors_and_nothing_is_made() {
    let ns = netns();
    dev_ok(&ns, &["add", "veth", "vdq0"]);
    for args in [
        &[
            "add",
            "vlan",
            "vdq0.5000",
            "--parent",
            "vdq0",
            "--id",
            "5000",
        ][..],
        &["add", "veth", "vd-name-far-too-long"],
        &["add", "vxlan", "vdqx", "--id", "16777216"],
        &["add", "veth", "vdq1", "--mtu", "20"],
        &["add", "gre", "vdqg", "--remote", "2001:db8::1"],
    ] {
        let refused = dev(&ns, args);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {refused:?}");
    }
    let exists = dev(&ns, &["add", "veth", "vdq0"]);
    assert_eq!(exists.status.code(), Some(1), "{exists:?}");
    assert!(String::from_utf8_lossy(&exists.stderr).contains("already exists"));
    let no_parent = dev(&ns, &["add", "macvlan", "vdq2", "--parent", "vdnone"]);
    assert_eq!(no_parent.status.code(), Some(1), "{no_parent:?}");
    let absent = dev(&ns, &["del", "vdnone"]);
    assert_eq!(absent.status.code(), Some(1), "{absent:?}");
    let links = run_in(ns.name(), &["ip", "-j", "link"]);
    assert!(
        !links.contains("vdq1") && !links.contains("vdq2"),
        "{links}"
    );
}

/// Each kind the kernel may lack, with its `ip link add` arguments after the name, the same
/// for `vswitch dev add`, and the config option its refusal names.
const MAYBE_MISSING: &[(&[&str], &[&str], &str)] = &[
    (&["type", "dummy"], &["dummy"], "CONFIG_DUMMY"),
    (
        &["link", "vdm0", "type", "vlan", "id", "10"],
        &["vlan", "--parent", "vdm0", "--id", "10"],
        "CONFIG_VLAN_8021Q",
    ),
    (
        &["link", "vdm0", "type", "ipvlan"],
        &["ipvlan", "--parent", "vdm0"],
        "CONFIG_IPVLAN",
    ),
    (&["type", "bond"], &["bond"], "CONFIG_BONDING"),
    (
        &["type", "bridge", "vlan_filtering", "1"],
        &["bridge", "--vlan-filtering"],
        "CONFIG_BRIDGE_VLAN_FILTERING",
    ),
    (&["type", "team"], &["team"], "CONFIG_NET_TEAM"),
    (
        &["link", "vdm0", "type", "macsec"],
        &["macsec", "--parent", "vdm0"],
        "CONFIG_MACSEC",
    ),
    (&["type", "vcan"], &["vcan"], "CONFIG_CAN_VCAN"),
    (
        &["type", "vxcan", "peer", "name", "vdxp"],
        &["vxcan", "--peer", "vdxc"],
        "CONFIG_CAN_VXCAN",
    ),
    (&["type", "nlmon"], &["nlmon"], "CONFIG_NLMON"),
    (
        &["type", "ipip", "remote", "192.0.2.1"],
        &["ipip", "--remote", "192.0.2.1"],
        "CONFIG_NET_IPIP",
    ),
    (
        &["type", "sit", "remote", "192.0.2.1"],
        &["sit", "--remote", "192.0.2.1"],
        "CONFIG_IPV6_SIT",
    ),
    (
        &["type", "gre", "remote", "192.0.2.1"],
        &["gre", "--remote", "192.0.2.1"],
        "CONFIG_NET_IPGRE",
    ),
    (
        &["type", "ip6tnl", "remote", "2001:db8::1"],
        &["ip6tnl", "--remote", "2001:db8::1"],
        "CONFIG_IPV6_TUNNEL",
    ),
    (
        &["type", "ip6gre", "remote", "2001:db8::1"],
        &["ip6gre", "--remote", "2001:db8::1"],
        "CONFIG_IPV6_GRE",
    ),
];

#[test]
fn kinds_this_kernel_lacks_are_refused_naming_the_feature() {
    let ns = netns();
    dev_ok(&ns, &["add", "veth", "vdm0"]);
    let mut refused = 0;
    for (index, (ip_args, dev_args, config)) in MAYBE_MISSING.iter().enumerate() {
        // iproute2 says independently whether the kernel has the kind.
        let mut ip = vec!["netns", "exec", ns.name(), "ip", "link", "add"];
        let probe = format!("vdip{index}");
        ip.push(&probe);
        ip.extend_from_slice(ip_args);
        let kernel_has_it = output("ip", &ip).status.success();
        let name = format!("vdk{index}");
        let mut args = vec!["add", dev_args[0], &name];
        args.extend_from_slice(&dev_args[1..]);
        let result = dev(&ns, &args);
        if kernel_has_it {
            assert!(
                result.status.success(),
                "ip made {config} but vswitch: {result:?}"
            );
        } else {
            assert_missing_feature(&result, config);
            refused += 1;
        }
    }
    eprintln!(
        "{refused} of {} kinds are missing on this kernel",
        MAYBE_MISSING.len()
    );
}

#[test]
fn netdevsim_without_its_driver_is_refused() {
    let ns = netns();
    let result = dev(&ns, &["add", "netdevsim", "vdsim"]);
    if std::path::Path::new("/sys/bus/netdevsim").exists() {
        assert!(result.status.success(), "{result:?}");
        dev_ok(&ns, &["del", "vdsim"]);
    } else {
        assert_missing_feature(&result, "CONFIG_NETDEVSIM");
    }
}

#[test]
fn config_devices_are_made_before_the_ports_and_removed_at_stop() {
    let (sw, h1, h2) = (netns(), netns(), netns());
    // A device that is there before the agent: used as it is, and left at stop.
    dev_ok(&sw, &["add", "ifb", "vdkeep"]);
    let config = format!(
        "[[device]]\nkind = \"veth\"\nname = \"vdu0\"\npeer = \"eth0\"\npeer_netns = \"{h1}\"\n\
         up = true\n\n[[device]]\nkind = \"ifb\"\nname = \"vdkeep\"\n\n\
         [[port]]\nname = \"vdu0\"\nexisting = true\nhook = \"tc\"\n\n\
         [[port]]\nname = \"vdp2\"\nnetns = \"{h2}\"\naddress = [\"10.80.0.2/24\"]\n",
        h1 = h1.name(),
        h2 = h2.name()
    );
    let switch = Switch::start(&sw, &config);
    run_in(
        h1.name(),
        &["ip", "addr", "add", "10.80.0.1/24", "dev", "eth0"],
    );
    run_in(h1.name(), &["ip", "link", "set", "eth0", "up"]);
    assert!(
        pings(h1.name(), "10.80.0.2"),
        "no ping over a port on a [[device]] veth"
    );
    let ports: Vec<String> = switch
        .rows(&["port", "show"])
        .iter()
        .map(|port| port["name"].as_str().expect("a name").to_string())
        .collect();
    assert_eq!(ports, ["vdu0", "vdp2"]);
    assert!(switch.stop().success());
    let links = run_in(sw.name(), &["ip", "-j", "link"]);
    assert!(
        !links.contains("\"vdu0\""),
        "the agent's device is left: {links}"
    );
    assert!(
        links.contains("\"vdkeep\""),
        "a device the agent found was removed: {links}"
    );
    assert!(!run_in(h1.name(), &["ip", "-j", "link"]).contains("eth0"));
}

#[test]
fn a_device_that_cannot_be_made_stops_the_start_and_undoes_the_others() {
    let sw = netns();
    let config = "[[device]]\nkind = \"ifb\"\nname = \"vdifb1\"\n\n\
                  [[device]]\nkind = \"macvlan\"\nname = \"vdmv1\"\nparent = \"vdnone\"\n";
    let path = std::env::temp_dir().join(format!("{}.toml", unique("dvc")));
    std::fs::write(&path, config).expect("writing the config");
    let name = unique("dvsw");
    let run = vswitch_in(
        sw.name(),
        &["--name", &name, "run", "--config", &path.to_string_lossy()],
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("vdnone"),
        "{run:?}"
    );
    assert!(!run_in(sw.name(), &["ip", "-j", "link"]).contains("vdifb1"));
}
