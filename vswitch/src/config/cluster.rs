//! `[cluster]`: the etcd cluster that agents on several hosts share their VTEPs and MACs
//! through, and how this agent appears in it.

use std::path::PathBuf;

use toml::Spanned;

use super::{
    VxlanSpec,
    file::ClusterSection,
    validate::{ConfigError, Source},
};

/// Default lifetime of a node's lease: its entries vanish this long after it dies.
pub const DEFAULT_LEASE_SECS: u64 = 10;
/// The shortest lease: keep-alives go out every third of it.
const MIN_LEASE_SECS: u64 = 3;
/// The longest lease.
const MAX_LEASE_SECS: u64 = 3600;
/// The longest node name (it is part of etcd keys).
const NODE_MAX: usize = 63;

/// A validated `[cluster]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    /// etcd endpoints, `http://HOST:PORT` or `https://HOST:PORT`.
    pub endpoints: Vec<String>,
    /// This host's unique name in the cluster.
    pub node: String,
    /// Lifetime of the node's lease, in seconds.
    pub lease_secs: u64,
    /// Client TLS, when the endpoints are `https`.
    pub tls: Option<TlsSpec>,
    /// etcd authentication, if the cluster has it enabled.
    pub auth: Option<AuthSpec>,
}

/// Client TLS towards etcd: PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSpec {
    /// The CA that signed the etcd servers' certificates.
    pub ca: PathBuf,
    /// This client's certificate and key, when etcd asks for client certificates.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// etcd user authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSpec {
    /// The etcd user.
    pub user: String,
    /// A file whose first line is the user's password (kept out of the config file).
    pub password_file: PathBuf,
}

/// Validates `[cluster]` against the tunnels it publishes.
pub(super) fn cluster(
    source: &Source<'_>,
    section: &Spanned<ClusterSection>,
    vxlans: &[VxlanSpec],
) -> Result<ClusterSpec, ConfigError> {
    let span = section.span();
    let section = section.get_ref();
    if section.etcd.get_ref().is_empty() {
        return Err(source.error(section.etcd.span(), "etcd must list at least one endpoint"));
    }
    let mut endpoints = Vec::with_capacity(section.etcd.get_ref().len());
    for endpoint in section.etcd.get_ref() {
        let text = endpoint.get_ref();
        let rest = text
            .strip_prefix("http://")
            .or_else(|| text.strip_prefix("https://"));
        if rest.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
            return Err(source.error(
                endpoint.span(),
                format!(
                    "etcd endpoint {text:?} must look like http://10.99.0.1:2379 or https://..."
                ),
            ));
        }
        endpoints.push(text.clone());
    }
    let node = section.node.get_ref();
    check_node(node).map_err(|reason| source.error(section.node.span(), reason))?;
    let lease_secs = match &section.lease_secs {
        Some(secs) => u64::try_from(*secs.get_ref())
            .ok()
            .filter(|secs| (MIN_LEASE_SECS..=MAX_LEASE_SECS).contains(secs))
            .ok_or_else(|| {
                source.error(
                    secs.span(),
                    format!("lease_secs must be from {MIN_LEASE_SECS} to {MAX_LEASE_SECS}"),
                )
            })?,
        None => DEFAULT_LEASE_SECS,
    };
    let tls = match (&section.ca, &section.cert, &section.key) {
        (None, None, None) => None,
        (Some(ca), None, None) => Some(TlsSpec {
            ca: PathBuf::from(ca.get_ref()),
            identity: None,
        }),
        (Some(ca), Some(cert), Some(key)) => Some(TlsSpec {
            ca: PathBuf::from(ca.get_ref()),
            identity: Some((PathBuf::from(cert.get_ref()), PathBuf::from(key.get_ref()))),
        }),
        (None, _, _) => {
            return Err(source.error(span, "cert and key need ca (the etcd servers' CA)"));
        }
        (Some(_), _, _) => {
            return Err(source.error(span, "cert and key go together: give both or neither"));
        }
    };
    let https = endpoints
        .iter()
        .any(|endpoint| endpoint.starts_with("https://"));
    if https != tls.is_some() {
        return Err(source.error(
            section.etcd.span(),
            "https endpoints need ca (and http ones must not have it): use https:// with ca, or \
             http:// without",
        ));
    }
    let auth = match (&section.user, &section.password_file) {
        (None, None) => None,
        (Some(user), Some(file)) => Some(AuthSpec {
            user: user.get_ref().clone(),
            password_file: PathBuf::from(file.get_ref()),
        }),
        _ => {
            return Err(source.error(span, "user and password_file go together"));
        }
    };
    if vxlans.is_empty() {
        return Err(source.error(
            span,
            "[cluster] shares the VXLAN tunnels' VTEPs and MACs: add a [[vxlan]]",
        ));
    }
    Ok(ClusterSpec {
        endpoints,
        node: node.clone(),
        lease_secs,
        tls,
        auth,
    })
}

/// Whether `node` can name a node: it becomes part of etcd keys.
fn check_node(node: &str) -> Result<(), String> {
    let valid = !node.is_empty()
        && node.len() <= NODE_MAX
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "node {node:?} must be 1 to {NODE_MAX} letters, digits, '-', '_' or '.'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const TUNNEL: &str = "[[port]]\nname = \"p1\"\nnetns = \"n1\"\nvlan = 10\n\n[[vxlan]]\nvni = 100\n\
                          vlan = 10\nlocal = \"192.0.2.1\"\nunderlay = \"up0\"\n\n";

    fn parse(cluster: &str) -> Result<Config, String> {
        Config::parse(Path::new("t.toml"), &format!("{TUNNEL}{cluster}"))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn a_cluster_section_is_read_with_its_defaults() {
        let config = parse("[cluster]\netcd = [\"http://10.99.0.1:2379\"]\nnode = \"hostA\"\n")
            .expect("valid");
        let cluster = config.cluster.expect("a cluster");
        assert_eq!(cluster.node, "hostA");
        assert_eq!(cluster.lease_secs, super::DEFAULT_LEASE_SECS);
        assert_eq!(cluster.tls, None);
        assert_eq!(cluster.auth, None);
    }

    #[test]
    fn tls_and_auth_are_read() {
        let config = parse(
            "[cluster]\netcd = [\"https://e:2379\"]\nnode = \"a\"\nca = \"/ca.pem\"\n\
             cert = \"/c.pem\"\nkey = \"/k.pem\"\nuser = \"vs\"\npassword_file = \"/pw\"\n",
        )
        .expect("valid");
        let cluster = config.cluster.expect("a cluster");
        let tls = cluster.tls.expect("tls");
        assert_eq!(tls.ca, Path::new("/ca.pem"));
        assert!(tls.identity.is_some());
        assert_eq!(cluster.auth.expect("auth").user, "vs");
    }

    #[test]
    fn bad_clusters_are_refused_at_their_line() {
        let base = TUNNEL.matches('\n').count();
        for (cluster, line, reason) in [
            (
                "[cluster]\netcd = []\nnode = \"a\"\n",
                2,
                "at least one endpoint",
            ),
            (
                "[cluster]\netcd = [\"10.0.0.1:2379\"]\nnode = \"a\"\n",
                2,
                "must look like",
            ),
            (
                "[cluster]\netcd = [\"http://e:1\"]\nnode = \"a/b\"\n",
                3,
                "node \"a/b\"",
            ),
            (
                "[cluster]\netcd = [\"http://e:1\"]\nnode = \"a\"\nlease_secs = 1\n",
                4,
                "lease_secs",
            ),
            (
                "[cluster]\netcd = [\"https://e:1\"]\nnode = \"a\"\n",
                2,
                "need ca",
            ),
            (
                "[cluster]\netcd = [\"http://e:1\"]\nnode = \"a\"\nuser = \"u\"\n",
                1,
                "go together",
            ),
        ] {
            let error = parse(cluster).expect_err(cluster);
            assert!(
                error.starts_with(&format!("t.toml:{}: ", base + line)) && error.contains(reason),
                "{cluster}: {error}"
            );
        }
    }

    #[test]
    fn a_cluster_without_tunnels_is_refused() {
        let error = Config::parse(
            Path::new("t.toml"),
            "[cluster]\netcd = [\"http://e:1\"]\nnode = \"a\"\n",
        )
        .expect_err("no tunnels");
        assert!(error.to_string().contains("add a [[vxlan]]"), "{error}");
    }
}
