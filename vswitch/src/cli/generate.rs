//! `vswitch generate DIR` (hidden): shell completions and man pages from the command line's
//! own definition, for `cargo xtask dist`.

use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use clap_complete::Shell;

use super::Cli;

/// Arguments of `generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write `completions/` and `man/`.
    pub dir: PathBuf,
}

/// Writes bash, zsh and fish completions and a man page per command under `args.dir`.
pub fn run(args: &Args) -> Result<(), super::Failure> {
    let completions = args.dir.join("completions");
    let man = args.dir.join("man");
    for dir in [&completions, &man] {
        std::fs::create_dir_all(dir)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "vswitch", &completions)?;
    }
    clap_mangen::generate_to(Cli::command(), &man)?;
    print_written(&args.dir)?;
    Ok(())
}

fn print_written(dir: &Path) -> std::io::Result<()> {
    for sub in ["completions", "man"] {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(sub))?
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .collect();
        names.sort();
        println!("{}/{sub}: {}", dir.display(), names.join(" "));
    }
    Ok(())
}
