//! Devices and network namespaces over rtnetlink, with a journal that undoes what was created.

pub mod device;
mod events;
mod hw_filter;
mod journal;
mod link;
mod neighbour;
pub mod netns;
mod propagation;
mod route;
pub mod tap;

pub use events::LinkEvents;
pub use journal::{Created, Journal};
pub use link::Links;
pub use neighbour::{Neighbour, Route};

/// Why a netlink or namespace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused a request.
    #[error("{what}: {source}")]
    Request {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
    /// A system call for a namespace failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// An interface that must exist does not.
    #[error("interface {0} does not exist")]
    NoSuchLink(String),
    /// An interface that the switch would create already exists.
    #[error("interface {0} already exists; remove it or mark the port `existing = true`")]
    LinkExists(String),
}

impl NetlinkError {
    pub(crate) fn request(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Self {
        let what = what.into();
        move |source| Self::Request { what, source }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
