//! The `vswitch-cni` binary: environment and stdin in, a result or an error object out.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    let mut stdin = Vec::new();
    std::io::stdin().read_to_end(&mut stdin)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = vswitch_cni::env::Environment::from_process()
        .and_then(|environment| runtime.block_on(vswitch_cni::run(&environment, &stdin)));
    let mut stdout = std::io::stdout().lock();
    match outcome {
        Ok(output) => {
            if let Some(output) = output {
                writeln!(stdout, "{output}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let version = vswitch_cni::version::answer_version(&stdin);
            writeln!(stdout, "{}", error.to_json(&version))?;
            eprintln!("vswitch-cni: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
