//! The broadcast-storm limit: a token bucket per port for the frames it floods (broadcast,
//! multicast and unknown unicast), at most `flood_pps` a second.

use crate::stats::DropReason;

/// How much credit a bucket holds at most, in nanoseconds of its rate: a burst of a tenth of a
/// second's frames passes at once after a quiet spell.
pub const BURST_NS: u64 = 100_000_000;

/// A port's bucket on one CPU, at the port's counter slot in the per-CPU `FLOOD_BUCKETS` map.
///
/// Credit is kept in nanoseconds: time adds to it, and each flooded frame costs
/// `1e9 / flood_pps`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// Credit left, in nanoseconds, at `last_ns`.
    pub credit_ns: u64,
    /// When the credit was last brought up to date (`bpf_ktime_get_coarse_ns`).
    pub last_ns: u64,
}

impl TokenBucket {
    /// Takes one frame's cost at `now_ns` for a limit of `flood_pps` (not 0), or refuses the
    /// frame when the credit does not cover it.
    #[inline(always)]
    pub fn take(&mut self, flood_pps: u32, now_ns: u64) -> Result<(), DropReason> {
        let cost = 1_000_000_000 / u64::from(flood_pps.max(1));
        let cap = if cost > BURST_NS { cost } else { BURST_NS };
        let earned = now_ns.saturating_sub(self.last_ns);
        let credit = self.credit_ns.saturating_add(earned);
        let credit = if credit > cap { cap } else { credit };
        self.last_ns = now_ns;
        if credit >= cost {
            self.credit_ns = credit - cost;
            Ok(())
        } else {
            self.credit_ns = credit;
            Err(DropReason::FloodLimit)
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with no padding.
unsafe impl aya::Pod for TokenBucket {}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_full_bucket_passes_a_burst_then_refuses() {
        // 100 frames a second: a burst of 10 (a tenth of a second's worth).
        let mut bucket = TokenBucket::default();
        let now = 10 * SECOND;
        let passed = (0..50).filter(|_| bucket.take(100, now).is_ok()).count();
        assert_eq!(passed, 10);
        assert_eq!(bucket.take(100, now), Err(DropReason::FloodLimit));
    }

    #[test]
    fn credit_comes_back_at_the_rate() {
        let mut bucket = TokenBucket::default();
        let mut now = 10 * SECOND;
        while bucket.take(100, now).is_ok() {}
        // A hundredth of a second later, one more frame.
        now += SECOND / 100;
        assert_eq!(bucket.take(100, now), Ok(()));
        assert_eq!(bucket.take(100, now), Err(DropReason::FloodLimit));
        // Over a second, 100 frames sent as they come in pass.
        let passed = (0..200)
            .filter(|_| {
                now += SECOND / 200;
                bucket.take(100, now).is_ok()
            })
            .count();
        assert!((99..=101).contains(&passed), "{passed}");
    }

    #[test]
    fn a_slow_rate_still_passes_one_frame() {
        let mut bucket = TokenBucket::default();
        assert_eq!(bucket.take(1, 2 * SECOND), Ok(()));
        assert_eq!(bucket.take(1, 2 * SECOND), Err(DropReason::FloodLimit));
        assert_eq!(bucket.take(1, 3 * SECOND), Ok(()));
    }
}
