//! Offload experiments on netdevsim (issue 4): the filter stage loaded device-bound and
//! attached in hardware mode, its device-bound map, detaching, refusals, and SR-IOV VF ports.
//!
//! netdevsim never runs offloaded programs on packets; it checks the control path. These tests
//! run only in the Debian 6.1 guest (`cargo xtask test --vm`); elsewhere they panic saying so.
//! Every namespace is named `vmx<pid>...` and removed on drop, with its netdevsim device.

use std::{fs, process::Command, thread};

use nix::sched::{CloneFlags, setns};
use serde_json::Value;
use tests::{
    command::{run, run_in},
    netns::Netns,
    switch::{Switch, vswitch_in},
};

/// A netdevsim device, deleted on drop.
struct Netdevsim {
    id: u32,
}

impl Netdevsim {
    /// Creates netdevsim device `id` with one port inside `netns` and names the port `name`.
    fn new(netns: &Netns, id: u32, name: &str) -> Self {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
        assert!(
            release.starts_with("6.1."),
            "vm_offload runs only in the 6.1 guest (`cargo xtask test --vm`), not on {release}"
        );
        run("modprobe", &["netdevsim"]);
        let path = format!("/run/netns/{}", netns.name());
        thread::spawn(move || {
            let file = fs::File::open(&path).expect("opening the namespace");
            setns(file, CloneFlags::CLONE_NEWNET).expect("entering the namespace");
            fs::write("/sys/bus/netdevsim/new_device", format!("{id} 1"))
                .expect("creating a netdevsim device");
        })
        .join()
        .expect("the netdevsim thread");
        let device = Self { id };
        device.rename(netns, None, name);
        device
    }

    /// Renames this device's port whose physical port name is `port_name` (`pf0vf<N>` for VF
    /// representors; `None` for the device's own port) to `name`.
    fn rename(&self, netns: &Netns, port_name: Option<&str>, name: &str) {
        let links: Value =
            serde_json::from_str(&run_in(netns.name(), &["ip", "-j", "-d", "link", "show"]))
                .expect("ip prints JSON");
        let parent = format!("netdevsim{}", self.id);
        let port = links
            .as_array()
            .expect("an array")
            .iter()
            .find(|link| {
                let found = link["phys_port_name"].as_str().unwrap_or_default();
                link["parentdev"] == parent.as_str()
                    && port_name.map_or(!found.contains("vf"), |port_name| found == port_name)
            })
            .unwrap_or_else(|| panic!("no port {port_name:?} of {parent}: {links}"));
        let old = port["ifname"].as_str().expect("ifname");
        run_in(netns.name(), &["ip", "link", "set", old, "name", name]);
    }

    /// Writes `value` to this device's debugfs knob `knob`.
    fn debugfs(&self, knob: &str, value: &str) {
        let path = format!("/sys/kernel/debug/netdevsim/netdevsim{}/{knob}", self.id);
        fs::write(&path, value).unwrap_or_else(|error| panic!("writing {path}: {error}"));
    }
}

impl Drop for Netdevsim {
    fn drop(&mut self) {
        let _ = fs::write("/sys/bus/netdevsim/del_device", self.id.to_string());
    }
}

/// A namespace `vmx<pid><tag>` with a netdevsim port called `vmxp<id>`; `id` is unique per test.
fn lab(id: u32) -> (Netns, Netdevsim, String) {
    let netns = Netns::new(&format!("vmx{}n{id}", std::process::id()));
    let port = format!("vmxp{id}");
    let device = Netdevsim::new(&netns, 1000 + id, &port);
    (netns, device, port)
}

/// A config with `ports` as existing ports in VLAN 10 and `offload` for each.
fn config(ports: &[&str], offload: &str) -> String {
    ports
        .iter()
        .map(|port| {
            format!(
                "[[port]]\nname = \"{port}\"\nexisting = true\nvlan = 10\noffload = \"{offload}\"\n"
            )
        })
        .collect()
}

/// `bpftool -j ARGS` in `netns`, parsed.
fn bpftool(netns: &Netns, args: &[&str]) -> Value {
    let mut full = vec!["bpftool", "-j"];
    full.extend_from_slice(args);
    serde_json::from_str(&run_in(netns.name(), &full)).expect("bpftool prints JSON")
}

/// The programs bpftool reports as bound to device `ifname`.
fn programs_on(netns: &Netns, ifname: &str) -> Vec<Value> {
    bpftool(netns, &["prog", "show"])
        .as_array()
        .expect("an array")
        .iter()
        .filter(|prog| prog["dev"]["ifname"] == ifname)
        .cloned()
        .collect()
}

/// The `port show --json` row of `port`.
fn port_row(switch: &Switch, port: &str) -> Value {
    switch
        .json(&["port", "show"])
        .as_array()
        .expect("an array")
        .iter()
        .find(|row| row["name"] == port)
        .cloned()
        .unwrap_or_else(|| panic!("no port {port}"))
}

/// Runs `vswitch run` with `config` in `netns`, expecting it to fail with exit code 1; returns
/// its stderr.
fn refused_run(netns: &Netns, config: &str) -> String {
    let path = std::env::temp_dir().join(format!("{}.toml", netns.name()));
    fs::write(&path, config).expect("writing the config");
    let name = netns.name().to_string();
    let path_text = path.to_str().expect("UTF-8").to_string();
    let output = vswitch_in(
        netns.name(),
        &["--name", &name, "run", "--config", &path_text],
    );
    let _ = fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn xdp_offload_is_offloaded_to_the_device_and_detaches() {
    let (netns, _device, port) = lab(1);
    let switch = Switch::start(&netns, &config(&[&port], "xdp-required"));
    let row = port_row(&switch, &port);
    assert_eq!(row["datapath"], "offloaded", "{row}");
    assert_eq!(row["offload"]["hook"], "xdp", "{row}");
    // Read back from the device-bound map through vswitch: what the agent wrote.
    assert_eq!(row["offload"]["pvid"], 10, "{row}");
    let programs = programs_on(&netns, &port);
    assert_eq!(programs.len(), 1, "{programs:?}");
    assert_eq!(programs[0]["name"], "vswitch_offload");
    let text = run_in(netns.name(), &["bpftool", "prog", "show"]);
    assert!(text.contains(&format!("offloaded_to {port}")), "{text}");
    let map_id = row["offload"]["map_id"]
        .as_u64()
        .expect("a map id")
        .to_string();
    let map = bpftool(&netns, &["map", "show", "id", &map_id]);
    assert_eq!(map["dev"]["ifname"], port.as_str(), "{map}");
    let net = bpftool(&netns, &["net", "show", "dev", &port]);
    // Two programs on one device: bpftool lists them as `multi_attachments`.
    let modes: Vec<&str> = net[0]["xdp"][0]["multi_attachments"]
        .as_array()
        .unwrap_or_else(|| panic!("no multi_attachments: {net}"))
        .iter()
        .filter_map(|entry| entry["mode"].as_str())
        .collect();
    assert!(
        modes.contains(&"offload") && modes.contains(&"driver"),
        "{net}"
    );
    assert_eq!(switch.stop().code(), Some(0));
    assert!(
        programs_on(&netns, &port).is_empty(),
        "still offloaded after stop"
    );
}

#[test]
fn tc_offload_with_skip_sw_is_in_hw_and_removed_on_stop() {
    let (netns, _device, port) = lab(2);
    run_in(
        netns.name(),
        &["ethtool", "-K", &port, "hw-tc-offload", "on"],
    );
    let switch = Switch::start(&netns, &config(&[&port], "tc-required"));
    assert_eq!(port_row(&switch, &port)["datapath"], "offloaded");
    let filters = run_in(
        netns.name(),
        &["tc", "-j", "filter", "show", "dev", &port, "ingress"],
    );
    assert!(
        filters.contains("\"in_hw\":true") && filters.contains("\"skip_sw\":true"),
        "{filters}"
    );
    assert_eq!(programs_on(&netns, &port).len(), 1);
    assert_eq!(switch.stop().code(), Some(0));
    let filters = run_in(
        netns.name(),
        &["tc", "-j", "filter", "show", "dev", &port, "ingress"],
    );
    assert!(!filters.contains("in_hw"), "{filters}");
}

#[test]
fn refused_program_fails_when_required_and_falls_back_otherwise() {
    let (netns, device, port) = lab(3);
    device.debugfs("bpf_bind_verifier_accept", "N");
    let stderr = refused_run(&netns, &config(&[&port], "xdp-required"));
    assert!(
        stderr.contains(&format!("{port} refused loading vswitch_offload_xdp"))
            && stderr.contains("verifier refused the program")
            && stderr.contains("Hello from netdevsim"),
        "{stderr}"
    );
    let switch = Switch::start(&netns, &config(&[&port], "xdp"));
    let row = port_row(&switch, &port);
    assert_eq!(row["datapath"], "native", "{row}");
    assert!(row["offload"].is_null(), "{row}");
}

#[test]
fn device_without_offload_is_refused_with_the_reason() {
    let netns = Netns::new(&format!("vmx{}n4", std::process::id()));
    run_in(
        netns.name(),
        &["ip", "link", "add", "vmxd4", "type", "dummy"],
    );
    let stderr = refused_run(&netns, &config(&["vmxd4"], "xdp-required"));
    assert!(stderr.contains("cannot offload BPF"), "{stderr}");
}

#[test]
fn sriov_vf_representors_can_be_ports() {
    let (netns, device, port) = lab(5);
    let devlink = format!("netdevsim/netdevsim{}", device.id);
    fs::write(
        format!(
            "/sys/bus/netdevsim/devices/netdevsim{}/sriov_numvfs",
            device.id
        ),
        "2",
    )
    .expect("creating VFs");
    let status = Command::new("ip")
        .args([
            "netns",
            "exec",
            netns.name(),
            "devlink",
            "dev",
            "eswitch",
            "set",
        ])
        .args([&devlink, "mode", "switchdev"])
        .status()
        .expect("running devlink");
    assert!(status.success(), "devlink eswitch set: {status}");
    device.rename(&netns, Some("pf0vf0"), "vmxvf0");
    device.rename(&netns, Some("pf0vf1"), "vmxvf1");
    let switch = Switch::start(&netns, &config(&[&port, "vmxvf0", "vmxvf1"], "off"));
    let names: Vec<Value> = switch
        .json(&["port", "show"])
        .as_array()
        .expect("an array")
        .iter()
        .map(|row| row["name"].clone())
        .collect();
    assert_eq!(names, [port.as_str(), "vmxvf0", "vmxvf1"]);
}
