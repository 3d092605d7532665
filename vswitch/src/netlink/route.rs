//! Routes in one network namespace.

use std::net::IpAddr;

use rtnetlink::RouteMessageBuilder;

use super::{Links, NetlinkError};

impl Links {
    /// Adds a route to `destination/prefix_len` through interface `index`, via `gateway` when
    /// there is one (on-link otherwise).
    pub async fn add_route(
        &self,
        index: u32,
        destination: IpAddr,
        prefix_len: u8,
        gateway: Option<IpAddr>,
    ) -> Result<(), NetlinkError> {
        let what = match gateway {
            Some(gateway) => format!("adding a route to {destination}/{prefix_len} via {gateway}"),
            None => format!("adding a route to {destination}/{prefix_len}"),
        };
        let invalid = |source| NetlinkError::Io {
            what: what.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, source),
        };
        let mut builder = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(destination, prefix_len)
            .map_err(invalid)?
            .output_interface(index);
        if let Some(gateway) = gateway {
            builder = builder.gateway(gateway).map_err(invalid)?;
        }
        self.handle
            .route()
            .add(builder.build())
            .execute()
            .await
            .map_err(NetlinkError::request(what))
    }
}
