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

/// A MAC address written as `aa:bb:cc:dd:ee:ff`.
pub struct Colons<'a>(pub &'a MacAddr);

impl core::fmt::Display for Colons<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (either case); `None` if `text` is anything else.
pub fn parse(text: &str) -> Option<MacAddr> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_and_parse_in_colon_form() {
        let mac = [0x02, 0xab, 0, 0x10, 0xff, 0x01];
        let text = format!("{}", Colons(&mac));
        assert_eq!(text, "02:ab:00:10:ff:01");
        assert_eq!(parse(&text), Some(mac));
        assert_eq!(parse("02:AB:00:10:FF:01"), Some(mac));
        for bad in [
            "02:ab:00:10:ff",
            "02:ab:00:10:ff:01:02",
            "2:ab:00:10:ff:01",
            "zz:ab:00:10:ff:01",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

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
