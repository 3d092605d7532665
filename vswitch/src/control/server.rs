//! The agent's end of the control socket.

use std::{
    io::ErrorKind,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::{
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use super::{
    ControlError,
    protocol::{self, Command, CommandFailure, ProtocolError, Request, Response},
    socket_path, wire,
};
use crate::state::RUN_DIR;

/// How long a client has to send its request, and to take the response.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests waiting for the agent; a connection beyond them waits in its own task.
const QUEUE: usize = 16;

/// How long to wait before accepting again after a failed accept (out of descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The answer to a request: an optional message for the user, or the failure.
type Answer = Result<Option<String>, CommandFailure>;

/// The listening control socket of a running agent, `/run/vswitch/NAME.sock` (mode 0600).
///
/// Each connection is served by its own task: it reads and decodes the request (answering a
/// malformed one itself, with exit code 2), hands the command to the agent through
/// [`next`](Self::next), and writes back the agent's answer. A client that goes away early costs
/// the agent nothing: answering it simply has no reader. Dropping the server removes the socket.
///
/// In the agent's event loop (the `Some(..)` pattern disables the branch if the listener ever
/// stops):
///
/// ```no_run
/// use vswitch::control::{Command, CommandFailure, ControlServer};
///
/// # async fn agent() -> Result<(), vswitch::control::ControlError> {
/// let mut control = ControlServer::bind("vsw0")?;
/// loop {
///     tokio::select! {
///         Some(request) = control.next() => {
///             let answer = match request.command() {
///                 Command::Reload => Ok(Some("nothing changed".to_string())),
///                 _ => Err(CommandFailure::usage("not supported yet")),
///             };
///             request.answer(answer);
///         }
///         _ = tokio::signal::ctrl_c() => break,
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    requests: mpsc::Receiver<ControlRequest>,
    accept: JoinHandle<()>,
}

impl ControlServer {
    /// Listens on the socket of instance `name`, creating `/run/vswitch` if needed. Fails if a
    /// live agent already listens there; a stale socket (no listener) is replaced. Must be called
    /// inside a tokio runtime.
    pub fn bind(name: &str) -> Result<Self, ControlError> {
        let path = socket_path(name);
        std::fs::create_dir_all(RUN_DIR).map_err(ControlError::io(Path::new(RUN_DIR)))?;
        match std::os::unix::net::UnixStream::connect(&path) {
            Ok(_) => {
                return Err(ControlError::AlreadyListening {
                    name: name.to_string(),
                    path: path.display().to_string(),
                });
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                std::fs::remove_file(&path).map_err(ControlError::io(&path))?;
            }
            Err(error) => return Err(ControlError::io(&path)(error)),
        }
        remove_dead_partials(name);
        // Bound under another name and renamed once it is 0600, so that the socket is never
        // reachable with the umask's wider mode.
        let partial = path.with_extension(format!("sock.{}", std::process::id()));
        let listener = listen(&partial).inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })?;
        std::fs::rename(&partial, &path).map_err(ControlError::io(&path))?;
        let (sender, requests) = mpsc::channel(QUEUE);
        let accept = tokio::spawn(accept(listener, sender));
        Ok(Self {
            path,
            requests,
            accept,
        })
    }

    /// The next request for the agent to answer. Cancel-safe, for `tokio::select!`. `None` only
    /// if the listening task has ended, which it does not do on its own while the server lives.
    pub async fn next(&mut self) -> Option<ControlRequest> {
        self.requests.recv().await
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One decoded command, waiting for the agent's answer.
#[derive(Debug)]
pub struct ControlRequest {
    command: Command,
    reply: oneshot::Sender<Answer>,
}

impl ControlRequest {
    /// What the client asks for.
    pub fn command(&self) -> &Command {
        &self.command
    }

    /// Sends the agent's answer back: `Ok` with an optional message for the user, or the failure
    /// with its exit code. Never blocks; a client that has gone away is ignored. Dropping the
    /// request without answering tells the client that the agent failed to answer (exit 1).
    pub fn answer(self, answer: Result<Option<String>, CommandFailure>) {
        // An error only means that the connection's task is gone: nobody is left to tell.
        let _ = self.reply.send(answer);
    }
}

/// Removes the partial sockets (`NAME.sock.PID`) of instance `name` whose agent was killed
/// between binding and renaming them.
fn remove_dead_partials(name: &str) {
    let Ok(entries) = std::fs::read_dir(RUN_DIR) else {
        return;
    };
    let prefix = format!("{name}.sock.");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let dead = file
            .to_str()
            .and_then(|file| file.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if dead {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn listen(path: &Path) -> Result<UnixListener, ControlError> {
    let listener = UnixListener::bind(path).map_err(ControlError::io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(ControlError::io(path))?;
    Ok(listener)
}

async fn accept(listener: UnixListener, requests: mpsc::Sender<ControlRequest>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, requests.clone()));
            }
            Err(error) => {
                log::warn!("control socket: accepting a connection failed: {error}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Serves one connection: one request, one response.
async fn serve(stream: UnixStream, requests: mpsc::Sender<ControlRequest>) {
    let (reader, writer) = stream.into_split();
    let answer = match receive(reader).await {
        Ok(request) => forward(request.command, &requests).await,
        Err(ProtocolError::Empty | ProtocolError::Io(_)) => return,
        Err(error) => {
            log::debug!("control socket: refused a request: {error}");
            Err(error.into())
        }
    };
    let response = protocol::encode(&Response::new(answer));
    match tokio::time::timeout(CLIENT_TIMEOUT, wire::write(writer, &response)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => log::debug!("control socket: the client left before the answer: {error}"),
        Err(_) => log::debug!("control socket: the client did not take the answer"),
    }
}

async fn receive(reader: impl tokio::io::AsyncRead + Unpin) -> Result<Request, ProtocolError> {
    let bytes = tokio::time::timeout(CLIENT_TIMEOUT, wire::read(reader))
        .await
        .map_err(|_| ProtocolError::TimedOut(CLIENT_TIMEOUT))??;
    protocol::decode(&bytes)
}

/// Hands `command` to the agent and waits for its answer.
async fn forward(command: Command, requests: &mpsc::Sender<ControlRequest>) -> Answer {
    let stopped = || {
        CommandFailure::runtime(
            "the agent stopped before answering; see its log for what was applied",
        )
    };
    let (reply, answer) = oneshot::channel();
    requests
        .send(ControlRequest { command, reply })
        .await
        .map_err(|_| stopped())?;
    answer.await.map_err(|_| stopped())?
}
