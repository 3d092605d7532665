//! Prometheus text exposition of a running instance (`vswitch run --metrics ADDR`): what
//! `vswitch stats` and `fdb show` read, served over HTTP at `/metrics`.

mod encode;
mod server;

pub use encode::render;
pub use server::{DEFAULT_ADDRESS, MetricsServer, parse_address};

use crate::{datapath::DatapathError, state::StateError};

/// Why the metrics could not be read or served.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The instance record.
    #[error(transparent)]
    State(#[from] StateError),
    /// Reading the maps.
    #[error(transparent)]
    Datapath(#[from] DatapathError),
    /// Binding or serving the endpoint.
    #[error("metrics endpoint {address}: {source}")]
    Io {
        /// The address it listens on.
        address: std::net::SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}
