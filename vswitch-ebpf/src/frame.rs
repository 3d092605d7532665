//! `vswitch_common::frame::Frame` over the two kinds of packet context.

use aya_ebpf::programs::{TcContext, XdpContext};
use vswitch_common::frame::Frame;

/// An XDP frame: direct, bounds-checked packet access.
pub struct XdpFrame<'a>(pub &'a XdpContext);

impl Frame for XdpFrame<'_> {
    #[inline(always)]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let start = self.0.data() + offset;
        if start + N > self.0.data_end() {
            return None;
        }
        // SAFETY: the range was checked against `data_end` just above.
        Some(unsafe { (start as *const [u8; N]).read_unaligned() })
    }

    #[inline(always)]
    fn accel_tci(&self) -> Option<u16> {
        None
    }
}

/// A socket buffer: reads the linear part directly, and through `bpf_skb_load_bytes` what lies
/// beyond it (non-linear data).
pub struct SkbFrame<'a>(pub &'a TcContext);

impl Frame for SkbFrame<'_> {
    #[inline(always)]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let start = self.0.data() + offset;
        if start + N <= self.0.data_end() {
            // SAFETY: the range was checked against `data_end` just above.
            return Some(unsafe { (start as *const [u8; N]).read_unaligned() });
        }
        // The helper call and its copy cost as much as the rest of a lookup: only for bytes
        // outside the linear part.
        self.0.load::<[u8; N]>(offset).ok()
    }

    #[inline(always)]
    fn accel_tci(&self) -> Option<u16> {
        // SAFETY: `skb` is the program's context pointer.
        let skb = unsafe { &*self.0.skb.skb };
        (skb.vlan_present != 0).then_some(skb.vlan_tci as u16)
    }
}
