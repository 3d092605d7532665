//! A minimal HTTP/1.1 server for the scrape endpoint: `GET /metrics` and nothing else.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use super::{MetricsError, render};

/// The address `--metrics` listens on without one: loopback only.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9469";

/// The content type of the OpenMetrics text format, which prometheus-client writes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The most of a request that is read: a scrape's request line and headers are far smaller.
const MAX_REQUEST: usize = 8192;

/// Reads `--metrics`' value: `ADDRESS:PORT`, or a port alone (on loopback).
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    text.parse().map_err(|_| {
        format!("{text:?} is not ADDRESS:PORT (for example 127.0.0.1:9469 or [::1]:9469) or a port")
    })
}

/// The endpoint of one instance, bound and serving.
#[derive(Debug)]
pub struct MetricsServer {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `address` and serves the metrics of instance `name` there until dropped.
    pub async fn start(name: &str, address: SocketAddr) -> Result<Self, MetricsError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| MetricsError::Io { address, source })?;
        let address = listener
            .local_addr()
            .map_err(|source| MetricsError::Io { address, source })?;
        let name = name.to_string();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let name = name.clone();
                tokio::spawn(async move {
                    if let Err(error) = answer(stream, &name).await {
                        log::debug!("metrics: {error}");
                    }
                });
            }
        });
        Ok(Self { address, task })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one connection: the metrics for `GET /metrics`, 404 or 405 for anything else.
async fn answer(mut stream: TcpStream, name: &str) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buffer = [0; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < MAX_REQUEST {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let request = String::from_utf8_lossy(&request);
    let mut words = request.split_whitespace();
    let (status, body) = match (words.next(), words.next()) {
        (Some("GET"), Some("/metrics")) => match render(name) {
            Ok(text) => ("200 OK", text),
            Err(error) => ("503 Service Unavailable", format!("{error}\n")),
        },
        (Some("GET"), _) => ("404 Not Found", "try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
