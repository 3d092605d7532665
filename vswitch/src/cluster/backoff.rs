//! How long to wait before trying etcd again: doubling from a short first wait up to a ceiling,
//! and back to the start once a session is up.

use std::time::Duration;

/// The first wait.
const FIRST: Duration = Duration::from_millis(200);
/// The longest wait.
const CEILING: Duration = Duration::from_secs(5);

/// Exponential backoff between attempts.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Backoff {
    /// The wait before the next attempt; the one after is twice as long, up to the ceiling.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(CEILING);
        wait
    }

    /// A session came up: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_ceiling_and_reset() {
        let mut backoff = Backoff::default();
        let waits: Vec<Duration> = (0..8).map(|_| backoff.next_wait()).collect();
        assert_eq!(waits[0], FIRST);
        assert_eq!(waits[1], FIRST * 2);
        assert!(waits.windows(2).all(|pair| pair[1] >= pair[0]));
        assert_eq!(*waits.last().unwrap(), CEILING);
        backoff.reset();
        assert_eq!(backoff.next_wait(), FIRST);
    }
}
