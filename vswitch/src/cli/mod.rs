//! The `vswitch` command line: one file per subcommand.

pub mod check;
pub mod dev;
pub mod fdb;
mod fdb_file;
mod format;
pub mod generate;
pub mod port;
pub mod reload;
pub mod run;
pub mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vswitch::control;

/// Exit status for bad usage or a bad configuration.
pub const EXIT_USAGE: u8 = control::protocol::EXIT_USAGE;

/// vswitch: an eBPF/XDP-accelerated virtual switch.
#[derive(Debug, Parser)]
#[command(version = vswitch::VERSION, about)]
pub struct Cli {
    /// The switch instance (state under /sys/fs/bpf/vswitch/NAME and /run/vswitch/NAME.json).
    #[arg(long, global = true, default_value = "vsw0")]
    pub name: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the switch in the foreground until SIGINT or SIGTERM.
    Run(run::Args),
    /// Validate a configuration file without changing anything.
    Check(check::Args),
    /// The MAC table.
    Fdb {
        /// What to do with it.
        #[command(subcommand)]
        command: fdb::Command,
    },
    /// The ports.
    Port {
        /// What to do with them.
        #[command(subcommand)]
        command: port::Command,
    },
    /// Per-port counters, with drops by reason.
    Stats(stats::Args),
    /// Re-read the running switch's config file and apply only the difference.
    Reload,
    /// Linux's virtual network devices, created over rtnetlink in this namespace.
    Dev {
        /// What to do with them.
        #[command(subcommand)]
        command: dev::Command,
    },
    /// Write shell completions and man pages (for `cargo xtask dist`).
    #[command(hide = true)]
    Generate(generate::Args),
}

/// A failure with the exit status it maps to.
#[derive(Debug)]
pub struct Failure {
    /// The message for stderr.
    pub error: anyhow::Error,
    /// The exit status.
    pub code: u8,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            error: error.into(),
            code: 1,
        }
    }
}

/// Sends a live change to the agent of instance `name` and prints its message, if any.
async fn send(name: &str, command: control::Command) -> Result<(), Failure> {
    match control::call(name, command).await {
        Ok(message) => {
            if let Some(message) = message {
                println!("{message}");
            }
            Ok(())
        }
        Err(error) => Err(Failure {
            code: error.exit_code(),
            error: error.into(),
        }),
    }
}

/// Runs the command line and returns the process's exit status.
pub async fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => run::run(&cli.name, args).await,
        Command::Check(args) => check::run(&args),
        Command::Fdb { command } => fdb::run(&cli.name, command).await,
        Command::Port { command } => port::run(&cli.name, command).await,
        Command::Stats(args) => stats::run(&cli.name, &args),
        Command::Reload => reload::run(&cli.name).await,
        Command::Dev { command } => dev::run(command).await,
        Command::Generate(args) => generate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { error, code }) => {
            eprintln!("vswitch: {error:#}");
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use vswitch::control::{CommandFailure, ControlServer};

    use super::*;

    #[tokio::test]
    async fn send_exits_with_the_agents_code() {
        let name = format!("vtcli-{}", std::process::id());
        let mut server = ControlServer::bind(&name).expect("binding");
        let agent = tokio::spawn(async move {
            let request = server.next().await.expect("a request");
            request.answer(Err(CommandFailure::usage("vlan 5000 is out of range")));
            server
        });
        let failure = send(&name, control::Command::Reload)
            .await
            .expect_err("refused");
        assert_eq!(failure.code, EXIT_USAGE);
        assert_eq!(failure.error.to_string(), "vlan 5000 is out of range");
        agent.await.expect("the agent task");
    }
}
