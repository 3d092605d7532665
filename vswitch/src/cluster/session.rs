//! The agent's link to etcd, in a task of its own: it registers the node under a lease it
//! keeps alive, publishes what the agent hands it, lists and then watches the other nodes'
//! records, and hands those to the agent. When etcd goes away it retries with backoff and,
//! once back, lists everything again (also when its watch revision was compacted). The agent
//! never waits on it: both directions are channels.

use std::{collections::BTreeMap, time::Duration};

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity,
    PutOptions, TlsOptions, Txn, TxnOp, WatchOptions,
};
use tokio::sync::{mpsc, watch};

use super::{
    ClusterError, Event,
    backoff::Backoff,
    keys::{Key, Local, Record, VNI_PREFIX},
    publish::{self, Write},
};
use crate::config::ClusterSpec;

/// How long connecting to an endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 pings that notice a dead connection that no reset announced.
const PING_INTERVAL: Duration = Duration::from_secs(2);

/// Runs sessions until the agent drops its end of `local`; then revokes the lease, so that this
/// node's records vanish at once rather than after `lease_secs`.
pub(super) async fn run(
    spec: ClusterSpec,
    mut local: watch::Receiver<Local>,
    events: mpsc::Sender<Event>,
) {
    let mut backoff = Backoff::default();
    let mut lease = None;
    let mut failures = 0;
    for attempt in 0.. {
        // One endpoint per session, the next one after a failure: a dead member is left
        // behind rather than retried while the others answer.
        let endpoint = &spec.endpoints[attempt % spec.endpoints.len()];
        let mut session = Session {
            spec: &spec,
            endpoint,
            local: &mut local,
            events: &events,
            lease: &mut lease,
            failures: &mut failures,
        };
        match session.run().await {
            Ok(()) | Err(ClusterError::AgentGone) => return,
            Err(error) => {
                let error = super::chain(&error);
                if failures == 0 {
                    backoff.reset();
                }
                failures += 1;
                let wait = backoff.next_wait();
                // One warning per outage; the retries that follow are debug output.
                if failures == 1 {
                    log::warn!(
                        "cluster: {endpoint}: {error}; forwarding goes on with what the switch \
                         knows, retrying with backoff"
                    );
                } else {
                    log::debug!("cluster: {endpoint}: {error}; retrying in {wait:?}");
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// One connection's worth of work.
struct Session<'a> {
    spec: &'a ClusterSpec,
    /// The endpoint this session talks to.
    endpoint: &'a str,
    local: &'a mut watch::Receiver<Local>,
    events: &'a mpsc::Sender<Event>,
    /// The node's lease, kept across sessions while etcd still knows it.
    lease: &'a mut Option<i64>,
    /// Sessions that failed since the last one that came up.
    failures: &'a mut u32,
}

impl Session<'_> {
    async fn run(&mut self) -> Result<(), ClusterError> {
        let mut client = connect(self.spec, self.endpoint).await?;
        let lease = self.lease(&mut client).await?;
        let (mut keeper, mut renewals) = client.lease_keep_alive(lease).await?;
        // List what etcd has, then watch from just after it.
        let listing = client
            .get(VNI_PREFIX, Some(GetOptions::new().with_prefix()))
            .await?;
        let revision = listing.header().map_or(0, |header| header.revision());
        let mut existing = BTreeMap::new();
        let mut records = Vec::new();
        for kv in listing.kvs() {
            let (Ok(key), value) = (kv.key_str(), kv.value()) else {
                log::warn!("cluster: ignoring a key that is not UTF-8");
                continue;
            };
            match Record::decode(key, value) {
                Ok(record) if record.node() == self.spec.node => {
                    existing.insert(key.to_string(), String::from_utf8_lossy(value).into_owned());
                }
                Ok(record) => records.push(record),
                Err(error) => log::warn!("cluster: ignoring {error}"),
            }
        }
        let mut stream = client
            .watch(
                VNI_PREFIX,
                Some(
                    WatchOptions::new()
                        .with_prefix()
                        .with_start_revision(revision + 1),
                ),
            )
            .await?;
        self.events
            .send(Event::Snapshot(records))
            .await
            .map_err(|_| ClusterError::AgentGone)?;
        let mut published = self.local.borrow_and_update().records(&self.spec.node);
        write(&mut client, lease, publish::resync(&existing, &published)).await?;
        log::info!(
            "cluster: node {} registered with etcd at {} (lease {lease:x}, revision {revision}{})",
            self.spec.node,
            self.endpoint,
            match *self.failures {
                0 => String::new(),
                failures => format!(", after {failures} failed attempts"),
            }
        );
        *self.failures = 0;
        let mut renew = tokio::time::interval(Duration::from_secs(self.spec.lease_secs) / 3);
        loop {
            tokio::select! {
                _ = renew.tick() => keeper.keep_alive().await?,
                renewal = renewals.message() => match renewal? {
                    Some(renewal) if renewal.ttl() > 0 => {}
                    _ => {
                        *self.lease = None;
                        return Err(ClusterError::LeaseLost);
                    }
                },
                changed = self.local.changed() => {
                    if changed.is_err() {
                        // The agent is stopping: take this node's records with it.
                        let _ = client.lease_revoke(lease).await;
                        *self.lease = None;
                        return Ok(());
                    }
                    let desired = self.local.borrow_and_update().records(&self.spec.node);
                    write(&mut client, lease, publish::plan(&published, &desired)).await?;
                    published = desired;
                }
                message = stream.message() => {
                    let Some(response) = message? else {
                        return Err(ClusterError::WatchEnded);
                    };
                    if response.canceled() {
                        return Err(ClusterError::WatchCanceled {
                            compacted: response.compact_revision(),
                        });
                    }
                    for event in response.events() {
                        let Some(kv) = event.kv() else { continue };
                        let Ok(key) = kv.key_str() else { continue };
                        let event = match event.event_type() {
                            EventType::Put => match Record::decode(key, kv.value()) {
                                Ok(record) => Event::Put(record),
                                Err(error) => {
                                    log::warn!("cluster: ignoring {error}");
                                    continue;
                                }
                            },
                            EventType::Delete => match Key::parse(key) {
                                Ok(key) => Event::Delete(key),
                                Err(error) => {
                                    log::warn!("cluster: ignoring {error}");
                                    continue;
                                }
                            },
                        };
                        self.events.send(event).await.map_err(|_| ClusterError::AgentGone)?;
                    }
                }
            }
        }
    }

    /// The node's lease: the previous session's while etcd still has it, else a new one.
    async fn lease(&mut self, client: &mut Client) -> Result<i64, ClusterError> {
        if let Some(id) = *self.lease
            && client.lease_time_to_live(id, None).await?.ttl() > 0
        {
            return Ok(id);
        }
        let ttl = i64::try_from(self.spec.lease_secs).unwrap_or(i64::MAX);
        let id = client.lease_grant(ttl, None).await?.id();
        *self.lease = Some(id);
        Ok(id)
    }
}

/// Connects to `endpoint` with the spec's TLS and credentials.
async fn connect(spec: &ClusterSpec, endpoint: &str) -> Result<Client, ClusterError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout(REQUEST_TIMEOUT)
        .with_keep_alive(PING_INTERVAL, PING_INTERVAL)
        .with_keep_alive_while_idle(true);
    if let Some(tls) = &spec.tls {
        let mut config = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
        if let Some((cert, key)) = &tls.identity {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(config);
    }
    if let Some(auth) = &spec.auth {
        let text = String::from_utf8(read(&auth.password_file)?).map_err(|_| {
            ClusterError::Credentials {
                path: auth.password_file.clone(),
                source: std::io::Error::other("not UTF-8"),
            }
        })?;
        let password = text.lines().next().unwrap_or_default().to_string();
        options = options.with_user(auth.user.clone(), password);
    }
    Ok(Client::connect([endpoint], Some(options)).await?)
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, ClusterError> {
    std::fs::read(path).map_err(|source| ClusterError::Credentials {
        path: path.to_path_buf(),
        source,
    })
}

/// Sends `batches`, one transaction each. A delete only goes through while the key still holds
/// what this node wrote (a nested transaction), so that it never removes another node's record.
async fn write(
    client: &mut Client,
    lease: i64,
    batches: Vec<Vec<Write>>,
) -> Result<(), ClusterError> {
    for batch in batches {
        let operations: Vec<TxnOp> = batch
            .into_iter()
            .map(|write| match write {
                Write::Put { key, value } => {
                    TxnOp::put(key, value, Some(PutOptions::new().with_lease(lease)))
                }
                Write::Delete { key, expected } => TxnOp::txn(
                    Txn::new()
                        .when([Compare::value(key.clone(), CompareOp::Equal, expected)])
                        .and_then([TxnOp::delete(key, None)]),
                ),
            })
            .collect();
        client.txn(Txn::new().and_then(operations)).await?;
    }
    Ok(())
}
