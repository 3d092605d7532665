//! `netns`: a named network namespace, as `ip netns add` makes it.

use super::{Feature, Kind, Recipe, Resolved};

/// The netns kind (no options of its own).
#[derive(Clone, Copy, Debug)]
pub struct Namespace;

impl Kind for Namespace {
    fn name(&self) -> &'static str {
        "netns"
    }

    fn feature(&self) -> Feature {
        Feature::new("network namespaces", "CONFIG_NET_NS")
    }

    fn recipe(&self, _: &str, _: &Resolved) -> Recipe {
        Recipe::Netns
    }
}
