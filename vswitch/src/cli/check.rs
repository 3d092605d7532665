//! `vswitch check --config FILE`.

use std::path::PathBuf;

use vswitch::config::Config;

use super::{EXIT_USAGE, Failure};

/// Arguments of `check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file to validate.
    #[arg(long)]
    pub config: PathBuf,
}

/// Validates the file; a bad one exits 2 with `FILE:LINE: reason`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let config = load(Some(&args.config))?;
    println!(
        "{}: valid: switch {} with {}",
        args.config.display(),
        config.name,
        config.summary(config.ports.len())
    );
    Ok(())
}

/// Loads `path`, or the built-in demo without one; a bad file is a usage failure.
pub fn load(path: Option<&PathBuf>) -> Result<Config, Failure> {
    match path {
        Some(path) => Config::load(path).map_err(|error| Failure {
            error: error.into(),
            code: EXIT_USAGE,
        }),
        None => Ok(Config::demo()),
    }
}
