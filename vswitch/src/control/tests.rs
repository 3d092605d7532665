//! The control socket end to end: a server under a test instance name, a fake agent, the client.
//! They need root (`/run/vswitch`); every socket is removed when its server drops.

use std::{
    os::unix::fs::{FileTypeExt, PermissionsExt},
    time::Duration,
};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    Command, CommandFailure, ControlError, ControlServer, call,
    protocol::{self, MAX_MESSAGE, PROTOCOL_VERSION, Response},
    socket_path,
};

/// An instance name no other test (or switch) uses.
fn instance(test: &str) -> String {
    format!("vtctl-{}-{test}", std::process::id())
}

fn bind(name: &str) -> ControlServer {
    ControlServer::bind(name).unwrap_or_else(|error| panic!("binding {name}: {error}"))
}

/// Answers the next request with `answer` and returns what was asked.
fn agent(
    mut server: ControlServer,
    answer: Option<Result<Option<String>, CommandFailure>>,
) -> tokio::task::JoinHandle<(ControlServer, Command)> {
    tokio::spawn(async move {
        let request = server.next().await.expect("the server listens");
        let command = request.command().clone();
        match answer {
            Some(answer) => request.answer(answer),
            None => drop(request),
        }
        (server, command)
    })
}

/// Sends raw bytes and decodes the response, as a client of another build would.
async fn exchange(name: &str, bytes: &[u8]) -> Response {
    let mut stream = tokio::net::UnixStream::connect(socket_path(name))
        .await
        .expect("connecting");
    stream.write_all(bytes).await.expect("writing");
    stream.shutdown().await.expect("closing the writing side");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("reading");
    protocol::decode(&answer)
        .unwrap_or_else(|error| panic!("{}: {error}", String::from_utf8_lossy(&answer)))
}

/// Fails if a request reached the agent.
async fn assert_nothing_forwarded(server: &mut ControlServer) {
    let forwarded = tokio::time::timeout(Duration::from_millis(50), server.next()).await;
    assert!(forwarded.is_err(), "forwarded to the agent: {forwarded:?}");
}

#[tokio::test]
async fn the_agent_answers_the_client() {
    let name = instance("answer");
    let agent = agent(bind(&name), Some(Ok(Some("port vp4 removed".into()))));
    let command = Command::PortDel { name: "vp4".into() };
    let reply = call(&name, command.clone()).await.expect("answered");
    assert_eq!(reply.as_deref(), Some("port vp4 removed"));
    let (_server, asked) = agent.await.expect("the agent task");
    assert_eq!(asked, command);
}

#[tokio::test]
async fn a_refusal_keeps_its_code_and_message() {
    let name = instance("refusal");
    let refusal = CommandFailure::usage("vlan 5000 is out of range 1..4094");
    let agent = agent(bind(&name), Some(Err(refusal.clone())));
    let error = call(&name, Command::Reload).await.expect_err("refused");
    assert_eq!(error.exit_code(), 2, "{error:?}");
    assert_eq!(error.to_string(), refusal.message);
    agent.await.expect("the agent task");
}

#[tokio::test]
async fn an_unanswered_request_is_a_runtime_failure() {
    let name = instance("unanswered");
    let agent = agent(bind(&name), None);
    let error = call(&name, Command::Reload)
        .await
        .expect_err("not answered");
    assert_eq!(error.exit_code(), 1, "{error:?}");
    assert!(
        error.to_string().contains("stopped before answering"),
        "{error}"
    );
    agent.await.expect("the agent task");
}

#[tokio::test]
async fn a_malformed_request_is_refused_without_the_agent() {
    let name = instance("malformed");
    let mut server = bind(&name);
    let oversized = vec![b'x'; MAX_MESSAGE + 1];
    for (bytes, words) in [
        (&b"not json\n"[..], "malformed"),
        (br#"{"version":5,"op":"reboot"}"#, "malformed"),
        (&oversized, "longer than"),
    ] {
        let failure = exchange(&name, bytes)
            .await
            .into_result()
            .expect_err("refused");
        assert_eq!(failure.code, 2, "{failure:?}");
        assert!(failure.message.contains(words), "{failure:?}");
    }
    assert_nothing_forwarded(&mut server).await;
}

#[tokio::test]
async fn another_protocol_version_is_refused_naming_both() {
    let name = instance("version");
    let mut server = bind(&name);
    let failure = exchange(&name, br#"{"version":99,"op":"reload"}"#)
        .await
        .into_result()
        .expect_err("refused");
    assert_eq!(failure.code, 1, "{failure:?}");
    assert!(
        failure.message.contains("version 99")
            && failure
                .message
                .contains(&format!("version {PROTOCOL_VERSION}")),
        "{failure:?}"
    );
    assert_nothing_forwarded(&mut server).await;
}

#[tokio::test]
async fn the_socket_is_private() {
    let name = instance("mode");
    let server = bind(&name);
    let metadata = std::fs::metadata(server.path()).expect("the socket exists");
    assert!(metadata.file_type().is_socket(), "{metadata:?}");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn a_second_agent_is_refused_while_the_first_lives() {
    let name = instance("twice");
    let first = bind(&name);
    let error = ControlServer::bind(&name).expect_err("the name is taken");
    assert!(
        matches!(error, ControlError::AlreadyListening { .. }),
        "{error:?}"
    );
    assert!(
        first.path().exists(),
        "the refused bind left the socket alone"
    );
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let name = instance("stale");
    std::fs::create_dir_all(crate::state::RUN_DIR).expect("creating the directory");
    // A listener that is gone leaves its file behind, as a killed agent does.
    drop(std::os::unix::net::UnixListener::bind(socket_path(&name)).expect("binding"));
    let agent = agent(bind(&name), Some(Ok(None)));
    assert_eq!(call(&name, Command::Reload).await.expect("answered"), None);
    agent.await.expect("the agent task");
}

#[tokio::test]
async fn dropping_the_server_removes_the_socket() {
    let name = instance("drop");
    let server = bind(&name);
    let path = server.path().to_path_buf();
    assert!(path.exists());
    drop(server);
    assert!(!path.exists(), "{} is left", path.display());
    let error = call(&name, Command::Reload)
        .await
        .expect_err("nobody listens");
    assert_eq!(
        error.to_string(),
        crate::state::StateError::NotRunning(name).to_string()
    );
}
