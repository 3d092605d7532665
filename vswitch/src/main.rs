//! `vswitch`: the controller binary.

mod cli;

use std::io::IsTerminal as _;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

/// What an operator sees without `RUST_LOG`: the agent's own messages from `info` up, and
/// only errors from netlink's crates, whose warnings (late notifications, unknown attributes)
/// are protocol chatter that says nothing to a user.
const DEFAULT_FILTER: &str = "info,netlink_packet_route=error,netlink_proto=error";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Records of the `log` crate (aya, the agent's older modules) reach the same subscriber.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    cli::main(cli::Cli::parse()).await
}
