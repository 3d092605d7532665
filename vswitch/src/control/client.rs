//! The CLI's end of the control socket.

use std::io::ErrorKind;

use tokio::net::UnixStream;

use super::{
    ControlError,
    protocol::{self, Command, Request, Response},
    socket_path, wire,
};

/// Sends `command` to the agent of instance `name` and waits for its answer: `Ok` with an
/// optional message for the user, or [`ControlError::Failed`] with the agent's exit code.
/// A switch that is not running is [`ControlError::NotRunning`]; a caller that is not root (or
/// may not open the socket) is [`ControlError::NeedsRoot`].
pub async fn call(name: &str, command: Command) -> Result<Option<String>, ControlError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(ControlError::NeedsRoot);
    }
    let path = socket_path(name);
    let stream = UnixStream::connect(&path)
        .await
        .map_err(|error| match error.kind() {
            // No socket, or one that no agent listens on any more.
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
                ControlError::NotRunning(name.to_string())
            }
            // EACCES and EPERM.
            ErrorKind::PermissionDenied => ControlError::NeedsRoot,
            _ => ControlError::io(&path)(error),
        })?;
    let (reader, writer) = stream.into_split();
    wire::write(writer, &protocol::encode(&Request::new(command)))
        .await
        .map_err(ControlError::io(&path))?;
    let response: Response = protocol::decode(&wire::read(reader).await?)?;
    response.into_result().map_err(ControlError::Failed)
}
