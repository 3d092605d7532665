//! Counter slots: each port's index into `PORT_STATS`, handed out and taken back as ports come
//! and go. Slot 0 belongs to frames from interfaces that are not ports.

use std::collections::BTreeSet;

use vswitch_common::MAX_PORTS;

/// The free and used counter slots of one switch.
#[derive(Debug)]
pub struct Slots {
    used: BTreeSet<u32>,
}

impl Default for Slots {
    fn default() -> Self {
        Self::new()
    }
}

impl Slots {
    /// Every slot from 1 free.
    pub fn new() -> Self {
        Self {
            used: BTreeSet::new(),
        }
    }

    /// The lowest free slot, now used; `None` when all `MAX_PORTS - 1` are taken.
    pub fn allocate(&mut self) -> Option<u32> {
        let slot = (1..MAX_PORTS).find(|slot| !self.used.contains(slot))?;
        self.used.insert(slot);
        Some(slot)
    }

    /// Marks `slot` used: an adopted port keeps the slot (and counters) it had.
    pub fn claim(&mut self, slot: u32) {
        self.used.insert(slot);
    }

    /// Marks `slot` free again.
    pub fn release(&mut self, slot: u32) {
        self.used.remove(&slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_slots_are_handed_out_again_lowest_first() {
        let mut slots = Slots::new();
        assert_eq!(slots.allocate(), Some(1));
        assert_eq!(slots.allocate(), Some(2));
        assert_eq!(slots.allocate(), Some(3));
        slots.release(2);
        assert_eq!(slots.allocate(), Some(2));
        assert_eq!(slots.allocate(), Some(4));
    }

    #[test]
    fn allocation_stops_at_the_map_size() {
        let mut slots = Slots::new();
        for expected in 1..MAX_PORTS {
            assert_eq!(slots.allocate(), Some(expected));
        }
        assert_eq!(slots.allocate(), None);
    }
}
