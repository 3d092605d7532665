//! Several hosts as one switch: each agent shares its VTEPs and local stations through etcd and
//! learns the other hosts' (see [`keys`] for the layout). The agent owns a [`Cluster`] handle
//! and talks to the session task through channels only, so forwarding never waits on etcd.

mod backoff;
pub mod keys;
pub mod publish;
mod session;
pub mod table;

use std::path::PathBuf;

use tokio::sync::{mpsc, watch};

pub use keys::{Key, Local, Record, Station};
pub use table::{Changes, RemoteMac, Table};

use crate::config::ClusterSpec;

/// How many records the session may hand over before it waits for the agent.
const EVENT_QUEUE: usize = 4096;
/// How long stopping waits for the session to revoke the node's lease.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a session with etcd ended.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// etcd refused a request or could not be reached.
    #[error("etcd: {}", describe(.0))]
    Etcd(#[from] etcd_client::Error),
    /// A TLS or password file could not be read.
    #[error("reading {}: {source}", path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// etcd forgot the node's lease (it expired while unreachable): its records are gone and are
    /// written again under a new one.
    #[error("the node's lease expired")]
    LeaseLost,
    /// etcd cancelled the watch, for example because its revision was compacted.
    #[error("the watch was cancelled (compacted up to revision {compacted}): listing again")]
    WatchCanceled {
        /// The compaction revision, 0 if it was not compaction.
        compacted: i64,
    },
    /// The watch stream ended.
    #[error("the watch stream ended")]
    WatchEnded,
    /// The agent dropped its end of the channels.
    #[error("the agent stopped")]
    AgentGone,
}

/// An etcd client error with what caused it: its transport errors say only "transport error"
/// by themselves, and the cause (a refused certificate, a refused connection) is what helps.
fn describe(error: &etcd_client::Error) -> String {
    match error {
        etcd_client::Error::TransportError(transport) => chain(transport),
        other => other.to_string(),
    }
}

/// `error` and its causes, `a: b: c`, skipping a cause that its parent already quotes.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What the session reports to the agent.
#[derive(Debug)]
pub enum Event {
    /// Every other node's record, as etcd holds them after a (re)connect: it replaces what the
    /// agent knew.
    Snapshot(Vec<Record>),
    /// A record was written.
    Put(Record),
    /// A key was deleted.
    Delete(Key),
}

/// The agent's end of the cluster session.
#[derive(Debug)]
pub struct Cluster {
    local: watch::Sender<Local>,
    events: mpsc::Receiver<Event>,
    task: tokio::task::JoinHandle<()>,
}

impl Cluster {
    /// Starts the session task for `spec`, publishing `local` once connected. Returns at once.
    pub fn start(spec: ClusterSpec, local: Local) -> Self {
        let (local, local_rx) = watch::channel(local);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let task = tokio::spawn(session::run(spec, local_rx, events_tx));
        Self {
            local,
            events,
            task,
        }
    }

    /// Publishes `local` if it differs from what was handed over last; the session writes the
    /// difference in batches when it can.
    pub fn publish(&self, local: Local) {
        self.local.send_if_modified(|current| {
            let changed = *current != local;
            if changed {
                *current = local;
            }
            changed
        });
    }

    /// The next report of the session.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next report if the session queued one already, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Ends the session. With `revoke`, revokes the node's lease first (if etcd answers in
    /// time), so that the other nodes forget this one's records at once; without, they stay
    /// until the lease runs out.
    pub async fn stop(self, revoke: bool) {
        let Self {
            local,
            events,
            mut task,
        } = self;
        if !revoke {
            task.abort();
            return;
        }
        drop(local);
        drop(events);
        if tokio::time::timeout(STOP_WAIT, &mut task).await.is_err() {
            task.abort();
        }
    }
}
