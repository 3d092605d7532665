//! End-to-end: a switch started as a simulated host, `ip netns exec HOST vswitch run`, the way
//! multi-host set-ups are built. The namespaces it creates for its ports must be usable from the
//! rest of the machine like any made by `ip netns add`, although `ip netns exec` runs the agent
//! in a mount namespace of its own.

use std::path::Path;

use tests::{
    command::{output, run},
    lab::Lab,
    names,
};

/// Whether this process's mount table mentions the handle of namespace `name`.
fn mounted_here(name: &str) -> bool {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    let handle = format!(" /run/netns/{name} ");
    mountinfo.lines().any(|line| line.contains(&handle))
}

#[test]
fn namespaces_an_agent_under_ip_netns_exec_creates_are_usable_from_outside() {
    let lab = Lab::with_hosts_by_switch(2);
    let switch = lab.start();
    let (a, b) = (lab.hosts[0].name(), lab.hosts[1].name());
    // `ip netns exec PORT-NS` from outside the agent's mount namespace.
    let address = Lab::address(1);
    let ping = output(
        "ip",
        &[
            "netns", "exec", a, "ping", "-c", "2", "-i", "0.2", "-W", "1", &address,
        ],
    );
    assert!(
        ping.status.success(),
        "host {a} cannot ping host {b} from outside the agent: {}{}",
        String::from_utf8_lossy(&ping.stdout),
        String::from_utf8_lossy(&ping.stderr)
    );
    // A device created from outside into a port's namespace: it lives in the switch namespace
    // (removed with it) and its peer in host b.
    let veth = names::unique("x");
    run(
        "ip",
        &[
            "-n",
            lab.switch_ns.name(),
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth9",
            "netns",
            b,
        ],
    );
    assert!(lab.hosts[1].links().contains(&"eth9".to_string()));
    run("ip", &["-n", lab.switch_ns.name(), "link", "del", &veth]);
    // A normal stop removes the namespaces it created from every mount namespace.
    assert!(switch.stop().success());
    for host in [a, b] {
        assert!(
            !Path::new("/run/netns").join(host).exists(),
            "netns {host} left behind"
        );
        assert!(!mounted_here(host), "netns {host} still mounted");
    }
}
