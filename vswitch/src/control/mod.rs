//! The agent's control socket: live changes (`port add/del`, `fdb add/del`, `reload`) travel
//! from the CLI to a running agent over `/run/vswitch/NAME.sock`, one request and one response
//! per connection, each a line of JSON (see [`protocol`]).
//!
//! The agent owns a [`ControlServer`] and answers each [`ControlRequest`] it yields; the CLI
//! sends a [`Command`] with [`call`].

mod client;
pub mod protocol;
mod server;
mod wire;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use client::call;
pub use protocol::{
    Command, CommandFailure, FdbFileChunk, FdbLine, FdbTarget, MAX_MESSAGE, PROTOCOL_VERSION,
    PortAdd, ProtocolError, Request, Response,
};
pub use server::{ControlRequest, ControlServer};

use crate::state::{RUN_DIR, StateError};

/// The control socket of instance `name`: `/run/vswitch/NAME.sock`.
pub fn socket_path(name: &str) -> PathBuf {
    PathBuf::from(RUN_DIR).join(format!("{name}.sock"))
}

/// Why a control request could not be made or served.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No agent listens on the instance's socket.
    #[error("{}", StateError::NotRunning(.0.clone()))]
    NotRunning(String),
    /// The caller may not use the socket.
    #[error(
        "this command needs root (CAP_NET_ADMIN, CAP_BPF): run it as root, for example with sudo"
    )]
    NeedsRoot,
    /// Another live agent already listens on the socket.
    #[error(
        "switch {name} already has an agent listening on {path}; stop it first or choose another --name"
    )]
    AlreadyListening {
        /// Instance name.
        name: String,
        /// The socket.
        path: String,
    },
    /// A message did not follow the protocol.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The agent refused or failed the command.
    #[error("{}", .0.message)]
    Failed(CommandFailure),
    /// Reading, writing or setting up the socket failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket (or its directory).
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

impl ControlError {
    /// The CLI's exit status for this error: the agent's code for a refused command (2 for bad
    /// input), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(failure) => failure.code,
            _ => protocol::EXIT_RUNTIME,
        }
    }

    /// The error of an operation on `path`: denied access there (a socket or `/run/vswitch` that
    /// is root's) says the caller needs root, naming the capabilities.
    fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.display().to_string();
        move |source| match source.kind() {
            std::io::ErrorKind::PermissionDenied => Self::NeedsRoot,
            _ => Self::Io { path, source },
        }
    }
}
