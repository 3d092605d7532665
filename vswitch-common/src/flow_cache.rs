//! The flow cache: each CPU remembers the last known-unicast decisions it took, so that the
//! next frames of the same flow skip the port, FDB and egress-port lookups.
//!
//! A flow is the ingress port and the frame's first [`HEAD_LEN`] bytes (both addresses, the
//! EtherType and the tag or the two bytes after it), which are all the decision read from the
//! frame. A [`CachedFlow`] holds what the full path decided for it: the egress port, the tag
//! change and the counter slots. It is taken only while:
//!
//! - no map the decision read has changed: the generation in `FLOW_GENERATION` is one word
//!   that the controller adds one to (through its memory mapping) after every write to the
//!   ports, the FDB and the switch settings, and the datapath after learning moved or
//!   re-learned a station, both with atomic adds. The full path reads the generation
//!   **before** its lookups, so a decision taken on maps that changed meanwhile is stored
//!   under the old generation and never taken;
//! - neither FDB entry would have changed by time alone ([`CachedFlow::valid_until_ns`]): the
//!   destination's entry has not aged out, and the source's is not due for its learning
//!   refresh, so the full path still refreshes it every [`REFRESH_NS`](crate::fdb::REFRESH_NS).
//!
//! Only frames that leave through one local port are cached; drops, floods and tunnels always
//! take the full path, as does every frame while a map changes.

use crate::{
    egress::EgressAction,
    fdb::{FdbEntry, REFRESH_NS},
    mac::MacAddr,
};

/// Bytes of the frame's head that make its flow: destination and source addresses, EtherType,
/// and the tag control information (or the two bytes after an untagged frame's EtherType).
pub const HEAD_LEN: usize = 16;

/// Cached flows per CPU. A flow's place is a hash of its head, so flows that collide take turns.
pub const FLOW_CACHE_SLOTS: u32 = 64;

/// How a cached flow's frames leave: [`EgressAction`] without its drop, as plain integers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CachedEgress {
    /// 0 keep, 1 push, 2 pop, 3 retag.
    pub kind: u16,
    /// The tag control information of a push or retag.
    pub tci: u16,
}

impl CachedEgress {
    /// The cached form of `action`; `None` for a drop, which is never cached.
    #[inline(always)]
    pub const fn of(action: EgressAction) -> Option<Self> {
        let (kind, tci) = match action {
            EgressAction::Keep => (0, 0),
            EgressAction::Push { tci } => (1, tci),
            EgressAction::Pop => (2, 0),
            EgressAction::Retag { tci } => (3, tci),
            EgressAction::Drop(_) => return None,
        };
        Some(Self { kind, tci })
    }

    /// The action again.
    #[inline(always)]
    pub const fn action(self) -> EgressAction {
        match self.kind {
            1 => EgressAction::Push { tci: self.tci },
            2 => EgressAction::Pop,
            3 => EgressAction::Retag { tci: self.tci },
            _ => EgressAction::Keep,
        }
    }
}

/// One cached decision, in the per-CPU `FLOW_CACHE` at [`CachedFlow::index`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CachedFlow {
    /// The flow's head bytes.
    pub head: [u8; HEAD_LEN],
    /// The ingress port's ifindex; 0 for an empty place.
    pub ingress: u32,
    /// The ingress port's counter slot.
    pub in_slot: u32,
    /// The egress port's ifindex.
    pub out_ifindex: u32,
    /// The egress port's counter slot.
    pub out_slot: u32,
    /// What happens to the frame's tag on the way out.
    pub egress: CachedEgress,
    /// Reserved, zero.
    pub _pad: u32,
    /// The maps' generation when the decision was taken.
    pub generation: u64,
    /// Until when (coarse monotonic nanoseconds) time alone changes nothing in the decision.
    pub valid_until_ns: u64,
}

impl CachedFlow {
    /// The place of the flow of `head` received on `ingress`.
    #[inline(always)]
    pub const fn index(ingress: u32, head: &[u8; HEAD_LEN]) -> u32 {
        // The addresses' last bytes vary most between stations.
        let mixed = head[5] as u32 ^ ((head[11] as u32) << 1) ^ ingress;
        mixed % FLOW_CACHE_SLOTS
    }

    /// Whether this is the decision for the flow of `head` on `ingress`, still valid at
    /// `now_ns` under `generation`.
    #[inline(always)]
    pub fn hit(&self, ingress: u32, head: &[u8; HEAD_LEN], generation: u64, now_ns: u64) -> bool {
        self.ingress == ingress
            && self.ingress != 0
            && self.head == *head
            && self.generation == generation
            && now_ns < self.valid_until_ns
    }
}

/// Until when the source's FDB entry needs no learning: `entry` is the entry as learning left
/// it (`None` where the port does not learn or learning was refused, which is retried on every
/// frame, so nothing is cached).
#[inline(always)]
pub const fn source_valid_until(entry: Option<&FdbEntry>) -> u64 {
    match entry {
        Some(entry) if entry.is_static() => u64::MAX,
        Some(entry) => entry.last_seen_ns.saturating_add(REFRESH_NS),
        None => 0,
    }
}

/// Until when the destination's FDB entry `entry` stays live.
#[inline(always)]
pub const fn destination_valid_until(entry: &FdbEntry, ageing_ns: u64) -> u64 {
    if entry.is_static() {
        u64::MAX
    } else {
        // `is_live` holds while the age is at most `ageing_ns`.
        entry.last_seen_ns.saturating_add(ageing_ns)
    }
}

/// The head of a frame with these addresses and the four bytes after them.
pub const fn head(dst: &MacAddr, src: &MacAddr, after: [u8; 4]) -> [u8; HEAD_LEN] {
    let mut head = [0; HEAD_LEN];
    let mut i = 0;
    while i < 6 {
        head[i] = dst[i];
        head[6 + i] = src[i];
        i += 1;
    }
    let mut j = 0;
    while j < 4 {
        head[12 + j] = after[j];
        j += 1;
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdb::{FDB_F_STATIC, Location};

    const HEAD: [u8; HEAD_LEN] = head(&[2, 0, 0, 0, 0, 2], &[2, 0, 0, 0, 0, 1], [8, 0, 0x45, 0]);
    const GEN: u64 = 3;

    fn flow() -> CachedFlow {
        CachedFlow {
            head: HEAD,
            ingress: 4,
            in_slot: 1,
            out_ifindex: 5,
            out_slot: 2,
            egress: CachedEgress::default(),
            _pad: 0,
            generation: GEN,
            valid_until_ns: 1_000,
        }
    }

    #[test]
    fn a_flow_hits_only_with_its_head_port_generation_and_time() {
        let flow = flow();
        assert!(flow.hit(4, &HEAD, GEN, 999));
        assert!(!flow.hit(4, &HEAD, GEN, 1_000), "expired");
        assert!(!flow.hit(6, &HEAD, GEN, 0), "another ingress port");
        let mut other = HEAD;
        other[15] ^= 1;
        assert!(!flow.hit(4, &other, GEN, 0), "another head");
        assert!(!flow.hit(4, &HEAD, GEN + 1, 0), "a map changed");
    }

    #[test]
    fn an_empty_place_never_hits() {
        let empty = CachedFlow::default();
        assert!(!empty.hit(0, &[0; HEAD_LEN], 0, 0));
    }

    #[test]
    fn every_egress_action_but_a_drop_round_trips() {
        let actions = [
            EgressAction::Keep,
            EgressAction::Push { tci: 0xa00a },
            EgressAction::Pop,
            EgressAction::Retag { tci: 10 },
        ];
        for action in actions {
            assert_eq!(
                CachedEgress::of(action).map(CachedEgress::action),
                Some(action)
            );
        }
        let drop = EgressAction::Drop(crate::stats::DropReason::VlanEgress);
        assert_eq!(CachedEgress::of(drop), None);
    }

    #[test]
    fn validity_follows_the_refresh_and_the_ageing() {
        let learned = FdbEntry::learned(Location::port(3), 5_000);
        assert_eq!(source_valid_until(Some(&learned)), 5_000 + REFRESH_NS);
        assert_eq!(
            source_valid_until(None),
            0,
            "learning refused: retried per frame"
        );
        assert_eq!(destination_valid_until(&learned, 300), 5_300);
        let fixed = FdbEntry {
            flags: FDB_F_STATIC,
            ..learned
        };
        assert_eq!(source_valid_until(Some(&fixed)), u64::MAX);
        assert_eq!(destination_valid_until(&fixed, 300), u64::MAX);
    }

    #[test]
    fn places_stay_within_the_cache() {
        for ingress in [0, 1, 255, u32::MAX] {
            assert!(CachedFlow::index(ingress, &HEAD) < FLOW_CACHE_SLOTS);
        }
    }
}
