//! What the XDP ingress program tells the devmap egress program about a frame it floods.
//!
//! A flood runs the egress program once per port. Without this note, each run looks the
//! ingress port up again and re-reads the frame's tag to find the frame's VLAN and priority,
//! which ingress already knew; the note carries them in the frame's XDP metadata instead.

/// Marks a note as this switch's: metadata of exactly the note's size that some other program
/// left on the frame is never taken for one.
pub const FLOOD_NOTE_MAGIC: u32 = 0x7673_7731;

/// The note, in the frame's XDP metadata (right before the frame's first byte).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodNote {
    /// [`FLOOD_NOTE_MAGIC`].
    pub magic: u32,
    /// The ingress port's counter slot.
    pub slot: u32,
    /// The VLAN the frame belongs to.
    pub vlan: u16,
    /// The priority bits of the tag the frame arrived with (`frame::Tag::priority`).
    pub priority: u16,
}

impl FloodNote {
    /// The note for a frame of `vlan`, received with `priority` on the port in `slot`.
    #[inline(always)]
    pub const fn new(slot: u32, vlan: u16, priority: u16) -> Self {
        Self {
            magic: FLOOD_NOTE_MAGIC,
            slot,
            vlan,
            priority,
        }
    }

    /// Whether these metadata bytes are a note this switch wrote.
    #[inline(always)]
    pub const fn is_ours(&self) -> bool {
        self.magic == FLOOD_NOTE_MAGIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_note_with_the_magic_is_ours() {
        assert!(FloodNote::new(3, 10, 5 << 13).is_ours());
        let foreign = FloodNote {
            magic: 0,
            ..FloodNote::new(3, 10, 0)
        };
        assert!(!foreign.is_ours());
        // The size the ingress program reserves in the metadata (a multiple of 4).
        assert_eq!(size_of::<FloodNote>(), 12);
    }
}
