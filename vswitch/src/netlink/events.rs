//! Link notifications from the kernel: which interfaces went away.

use futures::{StreamExt as _, channel::mpsc::UnboundedReceiver};
use netlink_packet_route::RouteNetlinkMessage;
use rtnetlink::{
    constants::RTMGRP_LINK,
    packet_core::{NetlinkMessage, NetlinkPayload},
    sys::{AsyncSocket as _, SocketAddr},
};

use super::NetlinkError;

/// A subscription to the link notifications of this process's namespace.
///
/// Dropping it closes the socket: notifications that arrive later (the switch's own teardown
/// deletes links) are not read at all, rather than read and reported as undeliverable.
pub struct LinkEvents {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    connection: tokio::task::JoinHandle<()>,
}

impl LinkEvents {
    /// Subscribes to link notifications.
    pub fn subscribe() -> Result<Self, NetlinkError> {
        let (mut connection, _handle, messages) =
            rtnetlink::new_connection().map_err(NetlinkError::io("opening a netlink socket"))?;
        connection
            .socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, RTMGRP_LINK))
            .map_err(NetlinkError::io("subscribing to link notifications"))?;
        let connection = tokio::spawn(connection);
        Ok(Self {
            messages,
            connection,
        })
    }

    /// The ifindex of the next interface that is deleted, or `None` when the socket closes.
    pub async fn next_removed(&mut self) -> Option<u32> {
        while let Some((message, _)) = self.messages.next().await {
            if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) =
                message.payload
            {
                return Some(link.header.index);
            }
        }
        None
    }
}

impl Drop for LinkEvents {
    fn drop(&mut self) {
        self.connection.abort();
    }
}
