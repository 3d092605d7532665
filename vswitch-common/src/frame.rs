//! Parsing the Ethernet and 802.1Q headers of a frame, on any packet buffer.

use crate::{
    mac::{self, MacAddr},
    stats::DropReason,
    vlan,
};

/// Length of an untagged Ethernet header.
pub const ETH_HLEN: usize = 14;
/// Length of a VLAN tag.
pub const VLAN_HLEN: usize = 4;

/// Read access to a frame's bytes, implemented by each datapath's context and by byte slices.
pub trait Frame {
    /// The `N` bytes at `offset`, or `None` where the frame is shorter.
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;

    /// A VLAN tag that the kernel holds outside the packet data (the skb's accelerated tag).
    fn accel_tci(&self) -> Option<u16>;
}

impl Frame for [u8] {
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        self.get(offset..offset.checked_add(N)?)?.try_into().ok()
    }

    fn accel_tci(&self) -> Option<u16> {
        None
    }
}

/// Where a frame's VLAN tag is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// No tag.
    None,
    /// A tag in the packet data after the source address.
    InData(u16),
    /// A tag held by the kernel outside the packet data.
    Accel(u16),
}

impl Tag {
    /// The tag control information, if tagged.
    #[inline(always)]
    pub const fn tci(self) -> Option<u16> {
        match self {
            Self::None => None,
            Self::InData(tci) | Self::Accel(tci) => Some(tci),
        }
    }

    /// The priority (PCP) and drop-eligible (DEI) bits of the tag; 0 when untagged.
    #[inline(always)]
    pub const fn priority(self) -> u16 {
        match self.tci() {
            Some(tci) => tci & !vlan::VID_MASK,
            None => 0,
        }
    }
}

/// The layer-2 header fields that switching decisions use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Header {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// The outer VLAN tag.
    pub tag: Tag,
}

/// Reads the outer VLAN tag of a frame whose Ethernet header is known to be present.
#[inline(always)]
pub fn outer_tag<F: Frame + ?Sized>(frame: &F) -> Result<Tag, DropReason> {
    if let Some(tci) = frame.accel_tci() {
        return Ok(Tag::Accel(tci));
    }
    let Some(ethertype) = frame.read::<2>(ETH_HLEN - 2) else {
        return Err(DropReason::Runt);
    };
    if !vlan::is_vlan_ethertype(u16::from_be_bytes(ethertype)) {
        return Ok(Tag::None);
    }
    // The tag is only whole with the encapsulated ethertype behind it.
    match frame.read::<VLAN_HLEN>(ETH_HLEN) {
        Some([hi, lo, _, _]) => Ok(Tag::InData(u16::from_be_bytes([hi, lo]))),
        None => Err(DropReason::TruncatedTag),
    }
}

/// Parses the Ethernet header and the outer VLAN tag, rejecting frames no switch may forward.
#[inline(always)]
pub fn parse<F: Frame + ?Sized>(frame: &F) -> Result<L2Header, DropReason> {
    let Some(eth) = frame.read::<ETH_HLEN>(0) else {
        return Err(DropReason::Runt);
    };
    let dst = [eth[0], eth[1], eth[2], eth[3], eth[4], eth[5]];
    let src = [eth[6], eth[7], eth[8], eth[9], eth[10], eth[11]];
    if mac::is_group(&src) || mac::is_zero(&src) {
        return Err(DropReason::InvalidSource);
    }
    let tag = outer_tag(frame)?;
    Ok(L2Header { dst, src, tag })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DST: MacAddr = [0x02, 0, 0, 0, 0, 2];
    const SRC: MacAddr = [0x02, 0, 0, 0, 0, 1];

    fn frame(ethertype: u16, rest: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::from(DST);
        bytes.extend_from_slice(&SRC);
        bytes.extend_from_slice(&ethertype.to_be_bytes());
        bytes.extend_from_slice(rest);
        bytes
    }

    #[test]
    fn untagged_frame_parses() {
        let header = parse(frame(0x0800, &[0; 46]).as_slice()).unwrap();
        assert_eq!(header.dst, DST);
        assert_eq!(header.src, SRC);
        assert_eq!(header.tag, Tag::None);
    }

    #[test]
    fn tagged_frame_yields_its_tci() {
        let header = parse(frame(0x8100, &[0x20, 0x0a, 0x08, 0x00]).as_slice()).unwrap();
        assert_eq!(header.tag, Tag::InData(0x200a));
    }

    #[test]
    fn priority_is_the_tag_without_its_vlan() {
        assert_eq!(Tag::InData(0xb00a).priority(), 0xb000);
        assert_eq!(Tag::Accel(0x000a).priority(), 0);
        assert_eq!(Tag::None.priority(), 0);
    }

    #[test]
    fn runt_and_truncated_frames_are_refused() {
        assert_eq!(parse(&[0u8; 13][..]), Err(DropReason::Runt));
        assert_eq!(
            parse(frame(0x8100, &[0x00]).as_slice()),
            Err(DropReason::TruncatedTag)
        );
        assert_eq!(
            parse(frame(0x8100, &[0x00, 0x0a, 0x08]).as_slice()),
            Err(DropReason::TruncatedTag)
        );
    }

    #[test]
    fn group_or_zero_source_is_refused() {
        let mut bytes = frame(0x0800, &[0; 46]);
        bytes[6] = 0x01;
        assert_eq!(parse(bytes.as_slice()), Err(DropReason::InvalidSource));
        bytes[6..12].fill(0);
        assert_eq!(parse(bytes.as_slice()), Err(DropReason::InvalidSource));
    }

    struct Accelerated<'a>(&'a [u8], u16);

    impl Frame for Accelerated<'_> {
        fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
            self.0.read(offset)
        }
        fn accel_tci(&self) -> Option<u16> {
            Some(self.1)
        }
    }

    #[test]
    fn accelerated_tag_wins_over_data() {
        let bytes = frame(0x0800, &[0; 46]);
        let header = parse(&Accelerated(&bytes, 20)).unwrap();
        assert_eq!(header.tag, Tag::Accel(20));
    }
}
