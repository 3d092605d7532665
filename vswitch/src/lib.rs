//! The vswitch controller library: configuration, devices over netlink, the eBPF datapath, the
//! agent that ties them together, and the control socket that carries live changes to it. The
//! `vswitch` binary is a thin CLI over it.

pub mod agent;
pub mod cluster;
pub mod config;
pub mod control;
pub mod datapath;
pub mod metrics;
pub mod netlink;
pub mod offload;
pub mod state;
mod sys;

/// The git revision the binary was built from ("unknown" outside a git checkout).
pub const REVISION: &str = env!("VSWITCH_GIT_REVISION");

/// The version with its git revision, as `vswitch --version` prints it.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("VSWITCH_GIT_REVISION"),
    ")"
);
