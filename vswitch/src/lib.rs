//! The vswitch controller library: configuration, devices over netlink, the eBPF datapath, and
//! the agent that ties them together. The `vswitch` binary is a thin CLI over it.

pub mod agent;
pub mod config;
pub mod datapath;
pub mod netlink;
pub mod offload;
pub mod state;
