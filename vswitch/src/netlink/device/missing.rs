//! Kernel features a kind needs, and how their absence shows.

/// A kernel feature that makes one kind of device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    /// What it is, in words ("dummy driver").
    pub what: &'static str,
    /// Its kernel config option ("CONFIG_DUMMY").
    pub config: &'static str,
}

impl Feature {
    /// A feature described by `what` and `config`.
    pub const fn new(what: &'static str, config: &'static str) -> Self {
        Self { what, config }
    }
}

/// Whether the kernel's answer to creating a link means that it lacks the kind's driver:
/// `RTM_NEWLINK` for a kind no driver registered fails with `EOPNOTSUPP` ("Unknown device
/// type"), after the kernel tried to load the `rtnl-link-KIND` module.
pub fn means_missing(error: &rtnetlink::Error) -> bool {
    matches!(error, rtnetlink::Error::NetlinkError(message)
        if message.raw_code() == -libc::EOPNOTSUPP)
}
