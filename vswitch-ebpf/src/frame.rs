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

/// The longest read a [`SkbFrame`] with `DIRECT` makes directly: addresses and header fields.
/// Longer reads go through `bpf_skb_load_bytes`. (Direct reads of whole ARP or ND headers leave
/// a value undefined on the failing path that newer LLVMs compute on before the check, which
/// the verifier refuses.)
const DIRECT_MAX: usize = 6;

/// A socket buffer, read through `bpf_skb_load_bytes`, which also reaches non-linear data.
///
/// With `DIRECT`, header fields in the linear part are read directly, and only the rest through
/// the helper, whose call and copy cost as much as the rest of a lookup. The switching program
/// reads its frames so; the dispatch programs do not: the second path spills their stack past
/// 512 bytes with newer LLVMs.
pub struct SkbFrame<'a, const DIRECT: bool>(pub &'a TcContext);

impl<const DIRECT: bool> Frame for SkbFrame<'_, DIRECT> {
    #[inline(always)]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let start = self.0.data() + offset;
        if DIRECT && N <= DIRECT_MAX && start + N <= self.0.data_end() {
            // SAFETY: the range was checked against `data_end` just above.
            return Some(unsafe { (start as *const [u8; N]).read_unaligned() });
        }
        self.0.load::<[u8; N]>(offset).ok()
    }

    #[inline(always)]
    fn accel_tci(&self) -> Option<u16> {
        // SAFETY: `skb` is the program's context pointer.
        let skb = unsafe { &*self.0.skb.skb };
        (skb.vlan_present != 0).then_some(skb.vlan_tci as u16)
    }
}
