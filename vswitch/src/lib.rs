//! The vswitch controller library: configuration, devices over netlink, the eBPF datapath, the
//! agent that ties them together, and the control socket that carries live changes to it. The
//! `vswitch` binary is a thin CLI over it.

pub mod agent;
pub mod config;
pub mod control;
pub mod datapath;
pub mod netlink;
pub mod offload;
pub mod state;
