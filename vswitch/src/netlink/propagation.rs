//! Which mount namespace a namespace handle is bind-mounted in, so that every mount namespace
//! sees it.
//!
//! `ip netns add` makes `/run/netns` a shared mount and bind-mounts the handle under it: the
//! mount propagates to every mount namespace that receives mounts from that one. An agent started
//! with `ip netns exec HOST` runs in a mount namespace of its own, which `ip netns exec` made
//! `MS_SLAVE | MS_REC` ("don't let any mounts propagate back to the parent"): its `/run/netns`
//! is a *slave* of the outside one (`master:N` in `/proc/self/mountinfo`), so a handle mounted
//! there is seen by the agent alone, and `ip netns exec PORT-NS` outside fails with
//! `setting the network namespace "..." failed: Invalid argument`.
//!
//! Propagation only flows from a peer group to its slaves, so the handle has to be mounted in a
//! mount namespace whose `/run/netns` is a *member* of the group this one is a slave of
//! (`shared:N`): from there it reaches every member and every slave, this agent's namespace
//! included, exactly as if `ip netns add` had made it outside. Such a namespace is found through
//! a process that lives in it: first the agent's ancestors (the shell or test that ran
//! `ip netns exec`), then every process in `/proc`. The mount is made by a thread that enters
//! that namespace with `setns` (after `unshare(CLONE_FS)`, which a multi-threaded process needs
//! before it may enter a mount namespace); the rest of the process stays where it is.
//!
//! Limits: a `/run/netns` that is no slave (the initial mount namespace, `nsenter --net`, or a
//! private copy) is used as it is. A slave whose peer group has no visible process left (the
//! shell that started the agent is gone and no other process shares its mount namespace, or
//! `/proc` hides them) also falls back to this namespace, with a warning: the handle is then
//! the agent's alone, as before. `/proc/1/root` and `/proc/1/ns/mnt` may be unreadable (they are
//! in the project's sandbox), which is why PID 1 is not the way in.

use std::{
    collections::HashSet,
    fs::File,
    io,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

/// How a mount takes part in propagation, from one line of `mountinfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Propagation {
    /// `shared:N`: a member of peer group N, whose mounts propagate to every member and slave.
    shared: Option<u32>,
    /// `master:N`: a slave of peer group N, which receives its mounts and sends none back.
    master: Option<u32>,
}

/// The propagation of the mount that `path` lies on, from the text of a `mountinfo` file: the
/// deepest mount point that contains `path`, and of several mounts stacked there, the last
/// listed (the one on top).
fn propagation_of(mountinfo: &str, path: &str) -> Option<Propagation> {
    let mut found: Option<(usize, Propagation)> = None;
    for line in mountinfo.lines() {
        let mut fields = line.split(' ');
        let Some(point) = fields.nth(4) else {
            continue;
        };
        let contains = point == "/"
            || path == point
            || path
                .strip_prefix(point)
                .is_some_and(|rest| rest.starts_with('/'));
        if !contains || found.is_some_and(|(depth, _)| point.len() < depth) {
            continue;
        }
        let mut propagation = Propagation {
            shared: None,
            master: None,
        };
        // Mount options, then the optional fields up to the "-" separator.
        for field in fields.skip(1).take_while(|field| *field != "-") {
            if let Some(group) = field.strip_prefix("shared:") {
                propagation.shared = group.parse().ok();
            } else if let Some(group) = field.strip_prefix("master:") {
                propagation.master = group.parse().ok();
            }
        }
        found = Some((point.len(), propagation));
    }
    found.map(|(_, propagation)| propagation)
}

/// The mount namespace to mount a handle under `run_dir` in, so that it propagates to every
/// mount namespace (see the module's documentation); `None` for this process's own.
pub(super) fn handle_namespace(run_dir: &Path) -> io::Result<Option<File>> {
    let run_dir = run_dir.to_string_lossy();
    let ours = std::fs::read_to_string("/proc/self/mountinfo")?;
    let Some(group) = propagation_of(&ours, &run_dir).and_then(|mount| mount.master) else {
        return Ok(None);
    };
    let own = std::fs::metadata("/proc/self/ns/mnt")?.ino();
    let mut seen = HashSet::from([own]);
    for pid in ancestors().into_iter().chain(every_process()) {
        let ns_path = PathBuf::from(format!("/proc/{pid}/ns/mnt"));
        // Held open, the namespace stays what was checked even if the process exits.
        let Ok(namespace) = File::open(&ns_path) else {
            continue;
        };
        let Ok(inode) = namespace.metadata().map(|metadata| metadata.ino()) else {
            continue;
        };
        if !seen.insert(inode) {
            continue;
        }
        let Ok(theirs) = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")) else {
            continue;
        };
        let same_process = std::fs::metadata(&ns_path).is_ok_and(|now| now.ino() == inode);
        let member =
            propagation_of(&theirs, &run_dir).is_some_and(|mount| mount.shared == Some(group));
        if same_process && member {
            return Ok(Some(namespace));
        }
    }
    log::warn!(
        "{run_dir} here is a slave of peer group {group}, but no process of a mount namespace in \
         that group was found: namespaces this agent creates are visible only to it, not to \
         `ip netns` outside"
    );
    Ok(None)
}

/// This process's ancestors, parent first: the one that ran `ip netns exec` is among them.
fn ancestors() -> Vec<u32> {
    let mut pids = Vec::new();
    let mut pid = std::process::id();
    while let Some(parent) = parent_of(pid).filter(|parent| *parent > 0 && !pids.contains(parent)) {
        pids.push(parent);
        pid = parent;
    }
    pids
}

/// The parent of `pid`, from the field after the command name in `/proc/PID/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Every process in `/proc`.
fn every_process() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `/proc/self/mountinfo` shows inside `ip netns exec HOST` (measured on kernel 6.18,
    /// iproute2 6.1), abridged: `/run/netns` is a slave of the outside peer group 1.
    const INSIDE: &str = "\
46 45 254:0 / / rw,relatime - ext4 /dev/vda rw
48 46 0:21 / /proc rw,relatime - proc proc rw
67 46 254:0 /run/netns /run/netns rw,relatime master:1 - ext4 /dev/vda rw
68 67 0:4 net:[4026532177] /run/netns/host rw master:2 - nsfs nsfs rw
49 46 0:40 / /sys rw,relatime - sysfs host rw
";

    /// The same machine outside: `/run/netns` is a member of peer group 1.
    const OUTSIDE: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
43 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw
44 43 0:4 net:[4026532177] /run/netns/host rw shared:2 - nsfs nsfs rw
";

    #[test]
    fn the_run_dir_inside_ip_netns_exec_is_a_slave_of_the_outside_group() {
        assert_eq!(
            propagation_of(INSIDE, "/run/netns"),
            Some(Propagation {
                shared: None,
                master: Some(1)
            })
        );
        assert_eq!(
            propagation_of(OUTSIDE, "/run/netns"),
            Some(Propagation {
                shared: Some(1),
                master: None
            })
        );
    }

    #[test]
    fn a_path_lies_on_the_deepest_mount_that_contains_it() {
        // No mount at /run/netns: the directory is part of the root mount.
        let root_only = "1 0 8:1 / / rw shared:7 - ext4 /dev/sda rw\n\
                         2 1 0:5 / /run/netnsx rw master:9 - tmpfs tmpfs rw\n";
        assert_eq!(
            propagation_of(root_only, "/run/netns"),
            Some(Propagation {
                shared: Some(7),
                master: None
            })
        );
        // Two mounts stacked on /run/netns: the one on top counts.
        let stacked = "1 0 8:1 / / rw - ext4 /dev/sda rw\n\
                       2 1 8:1 /run/netns /run/netns rw shared:3 - ext4 /dev/sda rw\n\
                       3 2 8:1 /run/netns /run/netns rw shared:4 master:3 - ext4 /dev/sda rw\n";
        assert_eq!(
            propagation_of(stacked, "/run/netns"),
            Some(Propagation {
                shared: Some(4),
                master: Some(3)
            })
        );
    }

    #[test]
    fn this_process_has_ancestors() {
        let ancestors = ancestors();
        assert!(!ancestors.is_empty());
        assert!(!ancestors.contains(&std::process::id()));
    }
}
