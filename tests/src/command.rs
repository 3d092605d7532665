//! Running commands, in namespaces or not, with failures that show their output.

use std::process::{Command, Output};

/// Runs `program args` and returns its output, whatever its exit status.
pub fn output(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("running {program}: {error}"))
}

/// Runs `program args`, panicking with its output unless it succeeds; returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = output(program, args);
    assert!(
        output.status.success(),
        "`{program} {}` failed with {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a command inside namespace `netns` with `ip netns exec`.
pub fn run_in(netns: &str, args: &[&str]) -> String {
    let mut full = vec!["netns", "exec", netns];
    full.extend_from_slice(args);
    run("ip", &full)
}

/// Whether a command inside namespace `netns` succeeds.
pub fn succeeds_in(netns: &str, args: &[&str]) -> bool {
    let mut full = vec!["netns", "exec", netns];
    full.extend_from_slice(args);
    output("ip", &full).status.success()
}

/// Whether `netns` can ping `address` (a few tries, as ARP may need a moment).
pub fn pings(netns: &str, address: &str) -> bool {
    succeeds_in(netns, &["ping", "-c", "2", "-i", "0.2", "-W", "1", address])
}

/// Whether `netns` pings `address` (any IP version) before `within` has passed, trying again
/// until then: for paths that need a moment to settle (a queue to drain, an address to finish
/// duplicate address detection).
pub fn pings_within(netns: &str, address: &str, within: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if succeeds_in(netns, &["ping", "-c", "1", "-W", "1", address]) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
    }
}

/// Whether `netns` can ping `address` with `payload` bytes of ICMP data in frames that must not
/// be fragmented (`-M do`): an IPv4 packet of `payload + 28` bytes has to fit every hop's MTU.
pub fn pings_unfragmented(netns: &str, address: &str, payload: u32) -> bool {
    let payload = payload.to_string();
    succeeds_in(
        netns,
        &[
            "ping", "-c", "2", "-i", "0.2", "-W", "1", "-M", "do", "-s", &payload, address,
        ],
    )
}
