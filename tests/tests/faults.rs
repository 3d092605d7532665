//! Faults and privileges: the agent SIGKILLed at random points of its set-up and of a live
//! `port add`, namespaces deleted under it, and callers without root.
//!
//! After every kill a restarted agent must converge to exactly the configured state, and a
//! normal stop must then leave exactly what was there before the switch: the same interfaces
//! and attached programs in every namespace, the same namespaces, no pins, no instance record,
//! no control socket. Programs need no count of their own: once the agents are gone, the pins
//! and attachments counted here are the only things that can keep one loaded.
//!
//! `VSWITCH_FAULT_ROUNDS` sets the kills per scenario (5; `cargo xtask test --long`: 50), and
//! the kill points come from the seeded generator of `tests::fuzz` (the seed is printed).

use std::{
    collections::BTreeSet,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use tests::{
    command::{output, pings, run_in},
    fuzz::{Rng, seed},
    lab::Lab,
    names,
    netns::Netns,
    switch::{Switch, binary, vswitch_as_nobody_in},
};

/// Kills per scenario in the fast run.
const DEFAULT_ROUNDS: usize = 5;

fn rounds() -> usize {
    std::env::var("VSWITCH_FAULT_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS)
}

/// Everything a switch instance can leave on the machine, as seen from outside the product.
#[derive(Debug, PartialEq, Eq)]
struct Footprint {
    /// Interfaces in the switch namespace.
    links: BTreeSet<String>,
    /// Which of the lab's host namespaces exist.
    namespaces: BTreeSet<String>,
    /// Programs attached (XDP, tc) in the switch namespace and the host namespaces, by
    /// namespace, device and program, without IDs (a restart loads new ones).
    attached: BTreeSet<String>,
    /// Files under the instance's pin directory.
    pins: BTreeSet<String>,
    /// The instance's files in `/run/vswitch` (record, socket, set-up journal, and any write
    /// or bind cut short), with the instance name written `NAME`.
    run_files: BTreeSet<String>,
}

impl Footprint {
    fn take(lab: &Lab, name: &str) -> Self {
        let namespaces: BTreeSet<String> = lab
            .hosts
            .iter()
            .map(|host| host.name().to_string())
            .filter(|host| Path::new("/run/netns").join(host).exists())
            .collect();
        let mut attached = BTreeSet::new();
        for netns in
            std::iter::once(lab.switch_ns.name()).chain(namespaces.iter().map(String::as_str))
        {
            attached.extend(attachments(netns));
        }
        Self {
            links: lab.switch_ns.links().into_iter().collect(),
            namespaces,
            attached,
            pins: files_under(&vswitch::state::pin_dir(name)),
            run_files: std::fs::read_dir(vswitch::state::RUN_DIR)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter_map(|file| Some(format!("NAME{}", file.strip_prefix(name)?)))
                .filter(|file| file.starts_with("NAME."))
                .collect(),
        }
    }
}

/// The programs `bpftool net` shows attached in `netns`, as `NS DEVICE KIND`. A namespace
/// handle that cannot be entered (an agent killed while making it left the file unmounted) is
/// one entry saying so.
fn attachments(netns: &str) -> Vec<String> {
    let shown = output(
        "ip",
        &["netns", "exec", netns, "bpftool", "net", "show", "--json"],
    );
    if !shown.status.success() {
        return vec![format!("{netns} cannot be entered")];
    }
    let shown: serde_json::Value =
        serde_json::from_slice(&shown.stdout).expect("bpftool prints JSON");
    let mut found = Vec::new();
    for section in shown.as_array().into_iter().flatten() {
        for kind in ["xdp", "tc"] {
            for entry in section[kind].as_array().into_iter().flatten() {
                let device = entry["devname"].as_str().unwrap_or("?");
                let how = entry["mode"]
                    .as_str()
                    .or(entry["kind"].as_str())
                    .unwrap_or("");
                found.push(format!("{netns} {device} {kind} {how}"));
            }
        }
    }
    found
}

/// The paths of the files and directories under `dir`, relative to it.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(dir).expect("under dir");
            found.insert(relative.display().to_string());
            if path.is_dir() {
                pending.push(path);
            }
        }
    }
    found
}

/// How long a clean start of `config` takes until the agent serves, the range kills are drawn
/// from.
fn start_time(lab: &Lab, config: &str) -> Duration {
    let started = Instant::now();
    let switch = Switch::start_pinned(&lab.switch_ns, config, &[]);
    let took = started.elapsed();
    assert!(switch.stop().success());
    took
}

/// Stops `switch` normally and checks that it left exactly `before`.
fn stop_leaves(lab: &Lab, mut switch: Switch, before: &Footprint, round: &str) {
    let name = switch.name().to_string();
    assert!(switch.halt().success(), "{round}: the stop failed");
    assert_eq!(
        &Footprint::take(lab, &name),
        before,
        "{round}: the stop leaked"
    );
}

#[test]
fn sigkill_during_set_up_then_restart_converges_and_stop_leaks_nothing() {
    let lab = Lab::with_hosts_by_switch(3);
    let mut config = lab.config(|_| 1);
    // One XDP port, so that pass programs in a host namespace are part of the footprint.
    config.push_str("hook = \"xdp\"\n");
    let empty = Footprint::take(&lab, "none");
    let setup = start_time(&lab, &config);
    let reference = {
        let switch = Switch::start_pinned(&lab.switch_ns, &config, &[]);
        let footprint = Footprint::take(&lab, switch.name());
        stop_leaves(&lab, switch, &empty, "reference");
        footprint
    };
    let mut rng = Rng::new(seed());
    let rounds = rounds();
    let mut partial = 0;
    for round in 0..rounds {
        let delay = Duration::from_micros(rng.below(setup.as_micros() as usize + 1) as u64);
        let label = format!("round {round}, killed after {delay:?} of a {setup:?} set-up");
        let mut switch = Switch::spawn_pinned(&lab.switch_ns, &config, &[]);
        thread::sleep(delay);
        switch.kill();
        let killed = Footprint::take(&lab, switch.name());
        if killed != empty && killed.links != reference.links {
            partial += 1;
        }
        switch.restart(&[]);
        assert_eq!(
            Footprint::take(&lab, switch.name()),
            reference,
            "{label}: the restarted switch differs from a clean start"
        );
        assert!(
            pings(lab.hosts[0].name(), &Lab::address(2)),
            "{label}: no forwarding"
        );
        stop_leaves(&lab, switch, &empty, &label);
    }
    eprintln!("{rounds} kills during a {setup:?} set-up, {partial} of them mid-way; all converged");
}

#[test]
fn sigkill_during_a_live_port_add_then_restart_has_the_port_whole_or_not_at_all() {
    let lab = Lab::with_hosts_by_switch(3);
    let config = lab.config_of(&[(0, 1), (1, 1)]);
    let third = lab.ports[2].clone();
    let netns = lab.hosts[2].name().to_string();
    let address = format!("{}/24", Lab::address(2));
    let add = [
        "port",
        "add",
        &third,
        "--netns",
        &netns,
        "--address",
        &address,
    ];
    let empty = Footprint::take(&lab, "none");
    // The two states a restart may converge to: without the third port, and with it.
    let (without, with, took) = {
        let switch = Switch::start_pinned(&lab.switch_ns, &config, &[]);
        let without = Footprint::take(&lab, switch.name());
        let started = Instant::now();
        assert!(switch.vswitch(&add).status.success(), "a clean port add");
        let took = started.elapsed();
        let with = Footprint::take(&lab, switch.name());
        stop_leaves(&lab, switch, &empty, "reference");
        (without, with, took)
    };
    let mut rng = Rng::new(seed());
    let rounds = rounds();
    let mut kept = 0;
    for round in 0..rounds {
        let delay = Duration::from_micros(rng.below(took.as_micros() as usize + 1) as u64);
        let label = format!("round {round}, killed after {delay:?} of a {took:?} port add");
        let mut switch = Switch::start_pinned(&lab.switch_ns, &config, &[]);
        let mut cli = Command::new("ip")
            .args(["netns", "exec", lab.switch_ns.name()])
            .arg(binary())
            .args(["--name", switch.name()])
            .args(add)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting port add");
        thread::sleep(delay);
        switch.kill();
        cli.wait().expect("reaping port add");
        switch.restart(&[]);
        let restarted = Footprint::take(&lab, switch.name());
        if restarted == with {
            kept += 1;
            assert!(
                pings(&netns, &Lab::address(0)),
                "{label}: the kept port does not forward"
            );
        } else {
            assert_eq!(
                restarted, without,
                "{label}: neither without the port nor with it"
            );
        }
        assert!(
            pings(lab.hosts[0].name(), &Lab::address(1)),
            "{label}: no forwarding"
        );
        stop_leaves(&lab, switch, &empty, &label);
    }
    eprintln!("{rounds} kills during a {took:?} port add: {kept} kept the port, all converged");
}

#[test]
fn a_port_namespace_deleted_under_the_switch_drops_the_port_and_the_rest_forwards() {
    let lab = Lab::new(3);
    let switch = lab.start();
    assert!(pings(lab.hosts[0].name(), &Lab::address(2)));
    output("ip", &["netns", "del", lab.hosts[2].name()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while switch
        .rows(&["port", "show"])
        .iter()
        .any(|row| row["name"] == lab.ports[2].as_str())
    {
        assert!(
            Instant::now() < deadline,
            "the port of the deleted namespace stays"
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert!(
        pings(lab.hosts[0].name(), &Lab::address(1)),
        "the others stop forwarding"
    );
    assert!(
        switch.stop().success(),
        "the stop after the namespace went failed"
    );
}

#[test]
fn a_live_port_add_of_an_interface_that_exists_is_refused_and_changes_nothing() {
    let lab = Lab::new(2);
    let switch = Switch::start(&lab.switch_ns, &lab.config_of(&[(0, 1)]));
    let other = Netns::new(&names::unique("fzo"));
    let taken = names::unique("fzt");
    lab.switch_ns.veth_to(&taken, &other, "eth9");
    let before = lab.switch_ns.links();
    let refused = switch.vswitch(&["port", "add", &taken, "--netns", lab.hosts[1].name()]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        lab.switch_ns.links(),
        before,
        "the refused add changed the interfaces"
    );
    assert!(
        !switch
            .rows(&["port", "show"])
            .iter()
            .any(|row| row["name"] == taken.as_str()),
        "the refused port is listed"
    );
}

#[test]
fn pin_directory_is_root_only() {
    let lab = Lab::new(1);
    let switch = Switch::start_pinned(&lab.switch_ns, &lab.config(|_| 1), &[]);
    let pins = vswitch::state::pin_dir(switch.name());
    for dir in [pins.as_path(), pins.parent().expect("/sys/fs/bpf/vswitch")] {
        let metadata = std::fs::metadata(dir).expect("the pin directory exists");
        assert_eq!(metadata.uid(), 0, "{} is not root's", dir.display());
        assert_eq!(
            metadata.permissions().mode() & 0o7777,
            0o700,
            "{}",
            dir.display()
        );
    }
    let maps = std::fs::metadata(pins.join("FDB")).expect("the FDB is pinned");
    assert_eq!(
        maps.permissions().mode() & 0o077,
        0,
        "the pinned FDB is open to others"
    );
}

#[test]
fn run_as_a_user_names_the_capabilities_and_creates_nothing() {
    let lab = Lab::with_hosts_by_switch(1);
    let config = std::env::temp_dir().join(format!("{}.toml", names::unique("fzu")));
    std::fs::write(&config, lab.config(|_| 1)).expect("writing the config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = lab.switch_ns.links();
    let name = names::unique("fzn");
    let config_path = config.to_str().expect("a UTF-8 path");
    let refused = vswitch_as_nobody_in(
        lab.switch_ns.name(),
        &["--name", &name, "run", "--config", config_path],
    );
    std::fs::remove_file(&config).unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a user started a switch");
    assert!(
        stderr.contains("CAP_BPF") && stderr.contains("CAP_NET_ADMIN"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert_eq!(lab.switch_ns.links(), before);
    assert!(!Path::new("/run/netns").join(lab.hosts[0].name()).exists());
    assert!(!vswitch::state::pin_dir(&name).exists());
}

#[test]
fn metrics_listen_on_loopback_unless_told_otherwise() {
    let lab = Lab::new(1);
    for option in [&["--metrics"][..], &["--metrics", "9470"]] {
        let switch = Switch::start_pinned(&lab.switch_ns, &lab.config(|_| 1), option);
        let listening = run_in(lab.switch_ns.name(), &["ss", "-ltnH"]);
        let local: Vec<&str> = listening
            .lines()
            .filter_map(|line| line.split_whitespace().nth(3))
            .collect();
        assert!(
            local
                .iter()
                .all(|address| address.starts_with("127.0.0.1:")),
            "{option:?}: listening on {local:?}"
        );
        assert_eq!(local.len(), 1, "{option:?}: {local:?}");
        assert!(switch.stop().success());
    }
}
