//! Ethernet MAC addresses.

/// A 48-bit Ethernet address, in wire order.
pub type MacAddr = [u8; 6];

/// The broadcast address.
pub const BROADCAST: MacAddr = [0xff; 6];

/// Whether `mac` is a group (multicast or broadcast) address.
#[inline(always)]
pub const fn is_group(mac: &MacAddr) -> bool {
    mac[0] & 0x01 != 0
}

/// Whether `mac` is all zeros, which no station may use as its source.
#[inline(always)]
pub const fn is_zero(mac: &MacAddr) -> bool {
    mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_bit_marks_multicast_and_broadcast() {
        assert!(is_group(&BROADCAST));
        assert!(is_group(&[0x01, 0x00, 0x5e, 0, 0, 1]));
        assert!(is_group(&[0x33, 0x33, 0, 0, 0, 1]));
        assert!(!is_group(&[0x02, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn zero_is_detected() {
        assert!(is_zero(&[0; 6]));
        assert!(!is_zero(&[0, 0, 0, 0, 0, 1]));
    }
}
