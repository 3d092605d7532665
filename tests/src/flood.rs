//! Hostile senders through an AF_PACKET socket: a host that sends frames from ever new source
//! addresses (MAC table exhaustion), or broadcasts as fast as it can (a storm).

use std::time::{Duration, Instant};

use crate::{
    frames::{Mac, ethernet},
    raw::RawSocket,
};

/// The broadcast address.
const BROADCAST: Mac = [0xff; 6];

/// A source of distinct locally administered unicast addresses, in a fixed pseudo-random
/// order (the same seed gives the same addresses).
#[derive(Clone, Debug)]
pub struct RandomMacs {
    state: u64,
}

impl RandomMacs {
    /// Addresses from `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }
}

impl Iterator for RandomMacs {
    type Item = Mac;

    /// The next address: a full-period 40-bit linear congruential sequence after the fixed
    /// first byte 0x06 (locally administered, unicast), so none repeats within 2^40.
    fn next(&mut self) -> Option<Mac> {
        const MASK: u64 = (1 << 40) - 1;
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1)
            & MASK;
        let [_, _, _, a, b, c, d, e] = self.state.to_be_bytes();
        Some([0x06, a, b, c, d, e])
    }
}

/// Sends `count` frames to `dst` out of `socket`, each from the next address of `sources`.
pub fn from_new_sources(socket: &RawSocket, dst: Mac, sources: &mut RandomMacs, count: usize) {
    for (n, src) in sources.take(count).enumerate() {
        socket.send(&ethernet(dst, src, n as u32));
    }
}

/// Broadcasts frames from `src` out of `socket` as fast as it takes them, for `duration`;
/// returns how many.
pub fn broadcast_for(socket: &RawSocket, src: Mac, duration: Duration) -> usize {
    let deadline = Instant::now() + duration;
    let mut sent = 0;
    while Instant::now() < deadline {
        for _ in 0..64 {
            socket.send(&ethernet(BROADCAST, src, sent as u32));
            sent += 1;
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_unicast_and_distinct() {
        let macs: std::collections::HashSet<Mac> = RandomMacs::new(1).take(100_000).collect();
        assert_eq!(macs.len(), 100_000);
        assert!(macs.iter().all(|mac| mac[0] & 1 == 0 && mac[0] & 2 != 0));
    }
}
