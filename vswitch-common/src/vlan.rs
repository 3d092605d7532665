//! IEEE 802.1Q VLAN identifiers and VLAN membership sets.

/// Ethertype of an 802.1Q customer tag.
pub const ETH_P_8021Q: u16 = 0x8100;
/// Ethertype of an 802.1ad service tag.
pub const ETH_P_8021AD: u16 = 0x88a8;
/// Mask of the VLAN identifier in a tag control information field.
pub const VID_MASK: u16 = 0x0fff;
/// The VLAN that untagged frames belong to on a port with no explicit VLAN.
pub const DEFAULT_VLAN: u16 = 1;
/// Number of VLAN identifiers (0 and 4095 are reserved).
pub const VLAN_COUNT: usize = 4096;

/// Whether `vid` may be configured on a port: 1 to 4094.
#[inline(always)]
pub const fn is_valid_vid(vid: u16) -> bool {
    vid >= 1 && vid <= 4094
}

/// Whether an ethertype announces a VLAN tag.
#[inline(always)]
pub const fn is_vlan_ethertype(ethertype: u16) -> bool {
    ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD
}

/// A set of VLAN identifiers, one bit each.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanSet {
    words: [u64; VLAN_COUNT / 64],
}

impl VlanSet {
    /// The empty set.
    pub const EMPTY: Self = Self {
        words: [0; VLAN_COUNT / 64],
    };

    /// Adds `vid` to the set.
    #[inline(always)]
    pub fn insert(&mut self, vid: u16) {
        let vid = usize::from(vid & VID_MASK);
        if let Some(word) = crate::bounded::get_mut(&mut self.words, vid / 64) {
            *word |= 1 << (vid % 64);
        }
    }

    /// Whether `vid` is in the set.
    #[inline(always)]
    pub fn contains(&self, vid: u16) -> bool {
        let vid = usize::from(vid & VID_MASK);
        crate::bounded::get(&self.words, vid / 64).is_some_and(|word| word & (1 << (vid % 64)) != 0)
    }

    /// The members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..VLAN_COUNT as u16).filter(|vid| self.contains(*vid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_holds_exactly_what_was_inserted() {
        let mut set = VlanSet::EMPTY;
        for vid in [1, 63, 64, 4094] {
            set.insert(vid);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), [1, 63, 64, 4094]);
        assert!(!set.contains(2));
        assert!(!set.contains(4095));
    }

    #[test]
    fn valid_vids_exclude_reserved_values() {
        assert!(!is_valid_vid(0));
        assert!(is_valid_vid(1));
        assert!(is_valid_vid(4094));
        assert!(!is_valid_vid(4095));
    }
}
