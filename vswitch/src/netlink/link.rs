//! Links and addresses in one network namespace.

use std::{fs::File, net::IpAddr, os::fd::AsRawFd as _};

use futures::TryStreamExt as _;
use netlink_packet_route::{
    address::AddressMessage,
    link::{InfoData, InfoVeth, LinkAttribute, LinkMessage},
};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};

use super::{NetlinkError, netns};

/// A netlink connection to one network namespace.
#[derive(Clone, Debug)]
pub struct Links {
    pub(super) handle: Handle,
}

impl Links {
    /// Connects to the namespace this process runs in.
    pub fn connect() -> Result<Self, NetlinkError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(NetlinkError::io("opening a netlink socket"))?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// Connects to the namespace called `name`.
    pub fn connect_in(name: &str) -> Result<Self, NetlinkError> {
        Self::connect_in_file(&netns::open(name)?, &format!("netns {name}"))
    }

    /// Connects to the namespace open as `file`; `what` names it in errors.
    pub fn connect_in_file(file: &File, what: &str) -> Result<Self, NetlinkError> {
        let runtime = tokio::runtime::Handle::current();
        let (connection, handle, _) = netns::run_in_file(file, what, move || {
            let _entered = runtime.enter();
            rtnetlink::new_connection()
        })?
        .map_err(NetlinkError::io(format!(
            "opening a netlink socket in {what}"
        )))?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    /// The ifindex of the interface called `name`, if there is one.
    pub async fn index(&self, name: &str) -> Result<Option<u32>, NetlinkError> {
        let mut request = self.handle.link().get().match_name(name.to_string());
        request.message_mut().header.index = 0;
        match request.execute().try_next().await {
            Ok(link) => Ok(link.map(|link| link.header.index)),
            Err(rtnetlink::Error::NetlinkError(message)) if message.raw_code() == -libc::ENODEV => {
                Ok(None)
            }
            Err(source) => Err(NetlinkError::Request {
                what: format!("looking up interface {name}"),
                source,
            }),
        }
    }

    /// The ifindex of the interface called `name`, which must exist.
    pub async fn require(&self, name: &str) -> Result<u32, NetlinkError> {
        self.index(name)
            .await?
            .ok_or_else(|| NetlinkError::NoSuchLink(name.to_string()))
    }

    /// The link message of the interface with `index`.
    pub async fn get(&self, index: u32) -> Result<LinkMessage, NetlinkError> {
        self.handle
            .link()
            .get()
            .match_index(index)
            .execute()
            .try_next()
            .await
            .map_err(NetlinkError::request(format!("reading interface {index}")))?
            .ok_or_else(|| NetlinkError::NoSuchLink(index.to_string()))
    }

    /// Brings the interface with `index` up.
    pub async fn set_up(&self, index: u32) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(NetlinkError::request(format!(
                "bringing interface {index} up"
            )))
    }

    /// The MTU of the interface with `index`, if the kernel reports one.
    pub async fn mtu(&self, index: u32) -> Result<Option<u32>, NetlinkError> {
        let link = self.get(index).await?;
        Ok(link
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Mtu(mtu) => Some(*mtu),
                _ => None,
            }))
    }

    /// Sets the MTU of the interface with `index`.
    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).mtu(mtu).build())
            .execute()
            .await
            .map_err(NetlinkError::request(format!(
                "setting the MTU of interface {index} to {mtu}"
            )))
    }

    /// Sets the MAC address of the interface with `index`.
    pub async fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .address(mac.to_vec())
                    .build(),
            )
            .execute()
            .await
            .map_err(NetlinkError::request(format!(
                "setting the MAC address of interface {index}"
            )))
    }

    /// Deletes the interface with `index`.
    pub async fn delete(&self, index: u32) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(NetlinkError::request(format!("deleting interface {index}")))
    }

    /// Adds `address/prefix_len` to the interface with `index`.
    pub async fn add_address(
        &self,
        index: u32,
        address: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetlinkError> {
        self.handle
            .address()
            .add(index, address, prefix_len)
            .execute()
            .await
            .map_err(NetlinkError::request(format!(
                "adding {address}/{prefix_len} to interface {index}"
            )))
    }

    /// Creates a veth pair `name` here and `peer_name` inside the namespace `peer_netns`.
    ///
    /// Returns the ifindex of `name`.
    pub async fn create_veth(
        &self,
        name: &str,
        peer_netns: &File,
        peer_name: &str,
    ) -> Result<u32, NetlinkError> {
        if self.index(name).await?.is_some() {
            return Err(NetlinkError::LinkExists(name.to_string()));
        }
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer_name.to_string())
            .setns_by_fd(peer_netns.as_raw_fd())
            .build();
        let message = LinkVeth::new(name, peer_name)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(NetlinkError::request(format!("creating veth {name}")))?;
        self.require(name).await
    }

    /// The link message of the interface called `name`, if there is one.
    pub async fn by_name(&self, name: &str) -> Result<Option<LinkMessage>, NetlinkError> {
        match self.index(name).await? {
            Some(index) => self.get(index).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every interface of the namespace.
    pub async fn all(&self) -> Result<Vec<LinkMessage>, NetlinkError> {
        self.handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(NetlinkError::request("listing interfaces"))
    }

    /// Every address of the namespace.
    pub async fn addresses(&self) -> Result<Vec<AddressMessage>, NetlinkError> {
        self.handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(NetlinkError::request("listing addresses"))
    }

    /// Sends `RTM_NEWLINK` for `message` and returns the kernel's answer as it is, for callers
    /// that tell its errors apart.
    pub async fn add_raw(&self, message: LinkMessage) -> Result<(), rtnetlink::Error> {
        self.handle.link().add(message).execute().await
    }

    /// Changes an existing interface as `message` (made with `LinkUnspec::new_with_index`)
    /// says; `what` describes the change for the error message.
    pub async fn set(&self, message: LinkMessage, what: &str) -> Result<(), NetlinkError> {
        self.handle
            .link()
            .set(message)
            .execute()
            .await
            .map_err(NetlinkError::request(what))
    }

    /// Renames the interface with `index`, which must be down.
    pub async fn rename(&self, index: u32, name: &str) -> Result<(), NetlinkError> {
        self.set(
            LinkUnspec::new_with_index(index)
                .name(name.to_string())
                .build(),
            &format!("renaming interface {index} to {name}"),
        )
        .await
    }

    /// The MAC address of the interface with `index`.
    pub async fn mac(&self, index: u32) -> Result<Option<[u8; 6]>, NetlinkError> {
        let link = self.get(index).await?;
        Ok(link
            .attributes
            .iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Address(bytes) => bytes.as_slice().try_into().ok(),
                _ => None,
            }))
    }
}
