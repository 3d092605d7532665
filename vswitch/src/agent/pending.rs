//! The on-disk journal of what the agent created since it last published its record, so that
//! the next agent removes what a killed one left half made.
//!
//! The instance record (`/run/vswitch/NAME.json`) is published once a change is complete: at
//! the end of the set-up, after a `port add`. An agent killed before that leaves devices and
//! namespaces that no record names, and its successor would find a port's interface "already
//! there". So every creation is first appended here (`/run/vswitch/NAME.pending.json`), taken
//! back if it fails, the file is emptied whenever the record is published, and a starting agent
//! removes what the file names, the record does not, and exists, with the links it pinned for
//! such an interface.

use std::path::PathBuf;

use super::port_changes::link_pin_file;
use crate::{
    netlink::{Created, Journal, Links, netns},
    state::{self, InstanceState, RUN_DIR},
};

fn path(name: &str) -> PathBuf {
    PathBuf::from(RUN_DIR).join(format!("{name}.pending.json"))
}

/// What the file of instance `name` holds; nothing when it is missing or unreadable.
fn read(name: &str) -> Vec<Created> {
    std::fs::read_to_string(path(name))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Appends `created`, about to be made, to the journal of instance `name`. A failure to write
/// is logged: only a crash before the next record would make the entry matter.
pub fn append(name: &str, created: &Created) {
    let mut entries = read(name);
    entries.push(created.clone());
    write(name, &entries);
}

/// Takes `created`, which could not be made, back out of the journal of instance `name`.
pub fn retract(name: &str, created: &Created) {
    let mut entries = read(name);
    if let Some(last) = entries.iter().rposition(|entry| entry == created) {
        entries.remove(last);
    }
    write(name, &entries);
}

fn write(name: &str, entries: &[Created]) {
    let text = serde_json::to_string(&entries).expect("the journal serializes");
    let target = path(name);
    let partial = target.with_extension("json.tmp");
    let written = std::fs::create_dir_all(RUN_DIR)
        .and_then(|()| std::fs::write(&partial, text))
        .and_then(|()| std::fs::rename(&partial, &target));
    if let Err(error) = written {
        log::warn!("{}: {error}", target.display());
    }
}

/// Empties the journal of instance `name`: its record now names everything it created. Also
/// removes a partial write left by a kill while appending (the entry being appended was not
/// made yet, as entries are written before their creation).
pub fn clear(name: &str) {
    let path = path(name);
    let _ = std::fs::remove_file(path.with_extension("json.tmp"));
    let _ = std::fs::remove_file(path);
}

/// Removes what a previous agent of instance `name` created and never published in
/// `previous` (its record, if any), then empties the journal.
pub async fn recover(name: &str, previous: Option<&InstanceState>, links: &Links) {
    let published: Vec<&Created> = previous
        .map(|state| {
            let ports = state.ports.iter().flat_map(|port| &port.created);
            let children = state.dispatch.iter().flat_map(|child| &child.created);
            ports.chain(children).chain(&state.devices).collect()
        })
        .unwrap_or_default();
    let left: Vec<Created> = read(name)
        .into_iter()
        .filter(|created| !published.contains(&created))
        // A namespace journalled but never made (the agent was killed before, or it failed).
        .filter(|created| !matches!(created, Created::Netns(ns) if !netns::exists(ns)))
        .collect();
    for created in &left {
        let what = match created {
            Created::Netns(name) => format!("namespace {name}"),
            Created::Link(name) => format!("interface {name}"),
            Created::Device { name, .. } => format!("device {name}"),
        };
        log::info!("removing {what}: an agent that was killed made it and never recorded it");
    }
    for created in &left {
        if let Created::Link(interface) = created {
            remove_link_pins(name, interface);
        }
    }
    for error in Journal::from(left).undo(links).await {
        log::warn!("removing what a killed agent left: {error}");
    }
    clear(name);
}

/// Removes the links of instance `name` pinned for interface `interface`, in every role's
/// directory: a killed agent may have attached a program to an interface it never recorded.
fn remove_link_pins(name: &str, interface: &str) {
    let Ok(roles) = std::fs::read_dir(state::pin_dir(name).join("links")) else {
        return;
    };
    for role in roles.flatten() {
        let _ = std::fs::remove_file(role.path().join(link_pin_file(interface)));
    }
}
