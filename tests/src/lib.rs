//! Test support for vswitch's end-to-end suites: namespaces, switch processes and raw frames,
//! each a guard that removes what it made when dropped, also when a test fails.
//!
//! Every name starts with a per-process prefix, so parallel runs and leftovers never collide
//! with anything else on the machine. Test drivers panic with context instead of returning
//! errors, so a failure says where it happened.

pub mod bench;
pub mod cluster;
pub mod cni;
pub mod command;
pub mod datapath;
pub mod devices;
pub mod dispatch;
pub mod dispatch_maps;
pub mod flood;
pub mod frames;
pub mod fuzz;
pub mod lab;
pub mod names;
pub mod netns;
pub mod overlay;
pub mod ping;
pub mod podman;
pub mod raw;
pub mod resolution;
pub mod switch;
pub mod tap;
pub mod vxlan_maps;
