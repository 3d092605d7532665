//! What runs a port's frames, as `port show` reports it.

use serde::{Deserialize, Serialize};

/// Where a port's frames are handled, as `port show` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datapath {
    /// The device runs the filter stage; the rest runs on the host.
    Offloaded,
    /// XDP in the driver.
    Native,
    /// XDP in the generic (skb) path.
    Generic,
    /// The tc ingress hook (TCX or clsact).
    Tc,
}
