//! `vswitch-cni`: a CNI plugin (spec 1.0 and 1.1) that attaches containers to a running
//! vswitch.
//!
//! ADD creates a veth: the host end (named from a hash of the network, container and
//! interface) in the namespace the plugin runs in, which is the switch's, and the container end
//! in `CNI_NETNS` as `CNI_IFNAME`. Addresses come from an IPAM delegate (`host-local`); the host
//! end joins the switch named by `switch` through its control socket as an existing TCX port.
//! DEL undoes it and is idempotent; CHECK verifies it; GC removes what the runtime no longer
//! lists; STATUS says whether the switch runs; VERSION lists [`version::SUPPORTED`].

pub mod add;
pub mod check;
pub mod config;
pub mod del;
pub mod env;
pub mod error;
pub mod gc;
pub mod ipam;
pub mod netns;
pub mod record;
pub mod result;
pub mod status;
pub mod switch;
pub mod version;

use config::NetConf;
use env::{Environment, Operation};
use error::{CniError, Code};

/// Carries out one call: `stdin` is the network config. Returns what to print on success, if
/// anything.
pub async fn run(
    environment: &Environment,
    stdin: &[u8],
) -> Result<Option<serde_json::Value>, CniError> {
    let config = || NetConf::parse(stdin);
    let path = &environment.path;
    let attachment = || {
        environment
            .attachment
            .as_ref()
            .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_CONTAINERID is not set"))
    };
    match environment.operation {
        Operation::Version => {
            let info =
                serde_json::to_value(version::info(stdin)).expect("the version info serializes");
            Ok(Some(info))
        }
        Operation::Add => {
            let result = add::add(&config()?, attachment()?, path).await?;
            Ok(Some(
                serde_json::to_value(result).expect("a result serializes"),
            ))
        }
        Operation::Del => del::del(&config()?, attachment()?, path)
            .await
            .map(|()| None),
        Operation::Check => check::check(&config()?, attachment()?, path)
            .await
            .map(|()| None),
        Operation::Status => status::status(&config()?, path).map(|()| None),
        Operation::Gc => gc::gc(&config()?, path).await.map(|()| None),
    }
}
