//! `dummy`: an interface that drops everything it sends.

use rtnetlink::LinkDummy;

use super::{Feature, Kind, Recipe, Resolved};

/// The dummy kind (no options of its own).
#[derive(Clone, Copy, Debug)]
pub struct Dummy;

impl Kind for Dummy {
    fn name(&self) -> &'static str {
        "dummy"
    }

    fn feature(&self) -> Feature {
        Feature::new("dummy driver", "CONFIG_DUMMY")
    }

    fn recipe(&self, name: &str, _: &Resolved) -> Recipe {
        Recipe::Link(Box::new(LinkDummy::new(name).build()))
    }
}
