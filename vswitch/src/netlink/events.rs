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
pub struct LinkEvents {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
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
        tokio::spawn(connection);
        Ok(Self { messages })
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
