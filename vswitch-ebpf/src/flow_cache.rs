//! The per-CPU flow cache of known-unicast decisions (see `vswitch_common::flow_cache`).

use vswitch_common::flow_cache::{CachedFlow, HEAD_LEN};

use crate::{
    atomic,
    maps::{FLOW_CACHE, FLOW_GENERATION},
};

/// The maps' generation now. Read before the lookups of a decision that may be cached.
#[inline(always)]
pub fn generation() -> u64 {
    FLOW_GENERATION.get(0).copied().unwrap_or(0)
}

/// Invalidates every CPU's cached flows: learning moved a station or learned it again.
#[inline(always)]
pub fn station_moved() {
    if let Some(word) = FLOW_GENERATION.get_ptr_mut(0) {
        // SAFETY: a live, aligned element of an array map, which is never freed.
        unsafe { atomic::add(word) };
    }
}

/// This CPU's cached decision for the flow of `head` on `ingress`, if it still holds.
#[inline(always)]
pub fn lookup(
    ingress: u32,
    head: &[u8; HEAD_LEN],
    generation: u64,
    now_ns: u64,
) -> Option<CachedFlow> {
    let flow = FLOW_CACHE.get(CachedFlow::index(ingress, head))?;
    flow.hit(ingress, head, generation, now_ns).then_some(*flow)
}

/// Remembers `flow` on this CPU, in place of the flow that had its place.
#[inline(always)]
pub fn store(flow: CachedFlow) {
    if let Some(place) = FLOW_CACHE.get_ptr_mut(CachedFlow::index(flow.ingress, &flow.head)) {
        // SAFETY: this CPU's value, which only this program touches, and programs do not nest.
        unsafe { *place = flow };
    }
}
