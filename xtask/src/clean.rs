//! `cargo xtask clean`: removes what killed test runs, benchmarks and agents left behind.
//!
//! It removes only names this project makes, and only when their owner is gone:
//! - namespaces and root-namespace links named by the test and benchmark helpers
//!   (`vt<pid>-…`, `vb<pid>-…`, see `tests/src/names.rs`) whose process no longer runs, and the
//!   demo's (`vsd-…`) when no agent runs;
//! - switch instances whose agent is dead: the record `/run/vswitch/NAME.json`, its set-up
//!   journal `NAME.pending.json`, the control socket and the pins under
//!   `/sys/fs/bpf/vswitch/NAME` (removing the pins detaches the programs a killed agent left
//!   attached);
//! - tc filters that a killed agent left on kernels without TCX (named `vswitch_*`).

use std::{collections::BTreeSet, path::Path};

use anyhow::Context as _;

use crate::prerequisites;

/// Where agents publish their records and sockets.
const RUN_DIR: &str = "/run/vswitch";
/// Where agents pin their maps and links.
const PIN_DIR: &str = "/sys/fs/bpf/vswitch";
/// The prefixes of `tests/src/names.rs`: tests and benchmarks.
const HELPER_PREFIXES: &[&str] = &["vt", "vb"];
/// The prefix of the demo's namespaces and ports.
const DEMO_PREFIX: &str = "vsd-";

/// Removes leftovers and says what it removed.
pub fn run() -> anyhow::Result<()> {
    prerequisites::require_root()?;
    let live = live_pids()?;
    let agents = live_agents(&live);
    let stale = |name: &str| is_stale(name, &live, !agents.is_empty());
    let mut removed = Vec::new();
    for netns in list_json(&["ip", "-j", "netns", "list"], "name") {
        if stale(&netns) && succeeds("ip", &["netns", "del", &netns]) {
            removed.push(format!("namespace {netns}"));
        }
    }
    for link in list_json(&["ip", "-j", "link", "show"], "ifname") {
        if stale(&link) && succeeds("ip", &["link", "del", &link]) {
            removed.push(format!("link {link}"));
        }
    }
    removed.extend(stale_instances(&live)?);
    removed.extend(stale_tc_filters());
    if removed.is_empty() {
        println!("xtask clean: nothing to remove");
    }
    for item in &removed {
        println!("xtask clean: removed {item}");
    }
    Ok(())
}

/// Whether `name` was made by a test, benchmark or demo that no longer runs.
fn is_stale(name: &str, live: &BTreeSet<u32>, agent_running: bool) -> bool {
    if name.starts_with(DEMO_PREFIX) {
        return !agent_running;
    }
    let Some(rest) = HELPER_PREFIXES
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
    else {
        return false;
    };
    // `rest` is the owner's pid in base 36, a dash, a counter and a tag.
    let Some((owner, _)) = rest.split_once('-') else {
        return false;
    };
    !owner.is_empty()
        && owner.bytes().all(|byte| byte.is_ascii_alphanumeric())
        && !live.iter().any(|pid| base36(*pid) == owner)
}

/// Instances whose agent is gone: their record, socket and pins.
fn stale_instances(live: &BTreeSet<u32>) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut names = BTreeSet::new();
    for dir in [RUN_DIR, PIN_DIR] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = [
                ".pending.json.tmp",
                ".pending.json",
                ".json.tmp",
                ".json",
                ".sock",
            ]
            .iter()
            .find_map(|suffix| file.strip_suffix(suffix))
            // A socket bound but not yet renamed: `NAME.sock.PID`.
            .or_else(|| file.split_once(".sock.").map(|(name, _)| name))
            .unwrap_or(&file);
            names.insert(name.to_string());
        }
    }
    for name in names {
        if agent_pid(&name).is_some_and(|pid| live.contains(&pid)) {
            continue;
        }
        let paths = [
            Path::new(RUN_DIR).join(format!("{name}.json")),
            Path::new(RUN_DIR).join(format!("{name}.sock")),
            // The set-up journal (`vswitch::agent::pending`), and writes cut short by a kill.
            Path::new(RUN_DIR).join(format!("{name}.pending.json")),
            Path::new(RUN_DIR).join(format!("{name}.pending.json.tmp")),
            Path::new(RUN_DIR).join(format!("{name}.json.tmp")),
        ];
        let partial_sockets = std::fs::read_dir(RUN_DIR)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                // Only where the process that bound it is gone.
                path.file_name()
                    .and_then(|file| file.to_str())
                    .and_then(|file| file.strip_prefix(&format!("{name}.sock.")))
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !live.contains(&pid))
            });
        for path in paths.into_iter().chain(partial_sockets) {
            if std::fs::remove_file(&path).is_ok() {
                removed.push(path.display().to_string());
            }
        }
        let pins = Path::new(PIN_DIR).join(&name);
        if pins.exists() {
            std::fs::remove_dir_all(&pins)
                .with_context(|| format!("removing pins {}", pins.display()))?;
            removed.push(format!("pins {}", pins.display()));
        }
    }
    Ok(removed)
}

/// Tc filters of vswitch's programs on root-namespace links (kernels before TCX).
fn stale_tc_filters() -> Vec<String> {
    let mut removed = Vec::new();
    for link in list_json(&["ip", "-j", "link", "show"], "ifname") {
        let text = prerequisites::output("tc", &["-j", "filter", "show", "dev", &link, "ingress"])
            .unwrap_or_default();
        let Ok(filters) = parse_json(&text) else {
            continue;
        };
        let ours = filters.iter().any(|filter| {
            filter
                .get("options")
                .and_then(|options| options.get("bpf_name"))
                .and_then(|name| name.as_str())
                .is_some_and(|name| name.starts_with("vswitch_"))
        });
        if ours && succeeds("tc", &["filter", "del", "dev", &link, "ingress"]) {
            removed.push(format!("tc ingress filters of {link}"));
        }
    }
    removed
}

/// The pid in the record of instance `name`, if there is a record.
fn agent_pid(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(Path::new(RUN_DIR).join(format!("{name}.json"))).ok()?;
    let record: serde_json::Value = serde_json::from_str(&text).ok()?;
    record.get("pid")?.as_u64()?.try_into().ok()
}

/// Agents whose record names a live process.
fn live_agents(live: &BTreeSet<u32>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(RUN_DIR) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = file.strip_suffix(".json")?.to_string();
            agent_pid(&name)
                .is_some_and(|pid| live.contains(&pid))
                .then_some(name)
        })
        .collect()
}

/// Every process ID on the machine.
fn live_pids() -> anyhow::Result<BTreeSet<u32>> {
    Ok(std::fs::read_dir("/proc")
        .context("reading /proc")?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect())
}

/// The `field` of every object in the JSON array that `command` prints.
fn list_json(command: &[&str], field: &str) -> Vec<String> {
    let text = command
        .split_first()
        .and_then(|(program, args)| prerequisites::output(program, args))
        .unwrap_or_default();
    parse_json(&text)
        .unwrap_or_default()
        .iter()
        .filter_map(|item| item.get(field)?.as_str().map(str::to_string))
        .collect()
}

fn parse_json(text: &str) -> serde_json::Result<Vec<serde_json::Value>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(text)
}

/// Runs `program` without showing its output; whether it succeeded.
fn succeeds(program: &str, args: &[&str]) -> bool {
    prerequisites::output(program, args).is_some()
}

/// `value` in base 36, as `tests/src/names.rs` writes process IDs into names. xtask cannot
/// depend on the `tests` crate (it builds the datapath, which needs what xtask installs), so
/// the two sides of this naming contract are kept in step by hand.
fn base36(mut value: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helper_names_are_stale_only_when_no_live_process_may_own_them() {
        let live = BTreeSet::from([1, 36 * 36]);
        // base36(1296) = "100"
        assert!(!is_stale("vt100-3p", &live, false));
        assert!(!is_stale("vb1-0sw", &live, false));
        assert!(is_stale("vtzz-3p", &live, false));
        assert!(is_stale("vb10-3p", &live, false));
        assert!(!is_stale("eth0", &live, false));
        assert!(!is_stale("veth1", &live, false));
        assert!(!is_stale("vti0", &live, false));
        assert!(!is_stale("vt", &live, false));
    }

    #[test]
    fn demo_names_are_stale_only_without_a_running_agent() {
        let live = BTreeSet::new();
        assert!(is_stale("vsd-h1", &live, false));
        assert!(!is_stale("vsd-h1", &live, true));
    }
}
