//! `vswitch reload`.

use vswitch::control::Command;

use super::{Failure, send};

/// Asks the agent to re-read its config file and apply the difference; a bad file is refused
/// with `FILE:LINE: reason` (exit 2) and the switch is left as it was.
pub async fn run(name: &str) -> Result<(), Failure> {
    send(name, Command::Reload).await
}
