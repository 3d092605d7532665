//! `vswitch`: the controller binary.

mod cli;

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // netlink's own crates report protocol chatter (late notifications, unknown attributes)
    // as warnings that say nothing to a user; RUST_LOG still shows them.
    env_logger::Builder::from_env(
        env_logger::Env::default()
            .default_filter_or("info,netlink_packet_route=error,netlink_proto=error"),
    )
    .init();
    cli::main(cli::Cli::parse()).await
}
