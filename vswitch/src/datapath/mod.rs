//! The eBPF object: loading it, attaching its programs to ports, and its maps.

mod barrier;
mod dispatch;
mod flood_groups;
mod flow_generation;
mod maps;
mod pins;
mod programs;
mod static_fdb;
mod tunnels;

pub use dispatch::ChildKeys;
pub use maps::{MapIds, Maps};
pub use pins::PINNED_MAPS;
pub use programs::{Attachment, DispatchTc, Programs, ensure_clsact};

/// The compiled eBPF object, built by `build.rs` from `vswitch-ebpf`.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vswitch"));

/// Why loading, attaching or a map operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// The object could not be loaded into the kernel.
    #[error("loading the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program could not be loaded or attached.
    #[error("{what}: {source}")]
    Program {
        /// What was being done.
        what: String,
        /// aya's error.
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("{what}: {source}")]
    Map {
        /// What was being done.
        what: String,
        /// aya's error.
        source: aya::maps::MapError,
    },
    /// A devmap update failed.
    #[error("{what}: {source}")]
    DevMap {
        /// What was being done.
        what: String,
        /// aya's error.
        source: aya::maps::xdp::XdpMapError,
    },
    /// Pinning or taking over a `bpf_link`.
    #[error("{what}: {reason}")]
    Link {
        /// What was being done.
        what: String,
        /// The error, as aya reported it.
        reason: String,
    },
    /// Maps pinned by an earlier agent do not fit this version's programs.
    #[error(
        "{}: {reason}; stop that switch with its own vswitch, or remove the pins \
         (`cargo xtask clean` removes those of dead agents)",
        dir.display()
    )]
    Incompatible {
        /// The pin directory.
        dir: std::path::PathBuf,
        /// Which map differs and how.
        reason: String,
    },
    /// The object lacks a program or map this controller expects.
    #[error("the eBPF object has no {0}; rebuild vswitch")]
    Missing(&'static str),
}

impl DatapathError {
    pub(crate) fn program(
        what: impl Into<String>,
    ) -> impl FnOnce(aya::programs::ProgramError) -> Self {
        let what = what.into();
        move |source| Self::Program { what, source }
    }

    pub(crate) fn map(what: impl Into<String>) -> impl FnOnce(aya::maps::MapError) -> Self {
        let what = what.into();
        move |source| Self::Map { what, source }
    }
}
