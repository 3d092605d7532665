//! The `vswitch` command line: one file per subcommand.

pub mod check;
pub mod fdb;
mod format;
pub mod port;
pub mod run;
pub mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status for bad usage or a bad configuration.
pub const EXIT_USAGE: u8 = 2;

/// vswitch: an eBPF/XDP-accelerated virtual switch.
#[derive(Debug, Parser)]
#[command(version, about)]
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

/// Runs the command line and returns the process's exit status.
pub async fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => run::run(&cli.name, args).await,
        Command::Check(args) => check::run(&args),
        Command::Fdb { command } => fdb::run(&cli.name, command),
        Command::Port { command } => port::run(&cli.name, command),
        Command::Stats(args) => stats::run(&cli.name, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { error, code }) => {
            eprintln!("vswitch: {error:#}");
            ExitCode::from(code)
        }
    }
}
