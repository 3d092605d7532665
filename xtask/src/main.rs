//! Developer commands for vswitch: `cargo xtask run`, `test`, `vm`, `bench`, `dist` and `clean`.

mod bench;
mod clean;
mod dist;
mod prerequisites;
mod run;
mod test;
mod vm;

use clap::{Parser, Subcommand};

/// Developer commands for the vswitch workspace.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what is missing, build, and run the demo switch.
    Run(run::Options),
    /// Install what is missing, then run the unit, BPF_PROG_TEST_RUN and namespace tests.
    Test(test::Options),
    /// Boot Debian's kernel under QEMU to run commands on kernel features this host lacks.
    #[command(subcommand)]
    Vm(vm::Command),
    /// Benchmark vswitch against the Linux bridge, macvlan and a plain XDP redirect.
    Bench(bench::Options),
    /// Write shell completions, man pages and the systemd unit to target/dist/.
    Dist,
    /// Remove namespaces, links, pins and tc filters left by killed tests, benchmarks and
    /// agents (only names this project makes, only when their owner is gone).
    Clean,
}

/// The workspace's root directory.
fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(options) => run::run(&options),
        Command::Test(options) => test::run(&options),
        Command::Vm(command) => vm::run(command),
        Command::Bench(options) => bench::run(&options),
        Command::Dist => dist::run().map(drop),
        Command::Clean => clean::run(),
    }
}
