//! Spacing the agent's costly readings (a walk of the whole FDB) so that they take at most a
//! share of its time, however often something asks for them.

use std::time::{Duration, Instant};

/// At most 1/N of the agent's time goes to one kind of paced reading.
const SHARE: u32 = 10;

/// When a paced reading may run again: after a reading that took `t`, not before `10 t` from
/// its start.
#[derive(Debug, Default)]
pub(super) struct Pace {
    /// No reading before this.
    not_before: Option<Instant>,
}

impl Pace {
    /// Whether a reading may run at `now`.
    pub(super) fn ready(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|not_before| now >= not_before)
    }

    /// The earliest time of the next reading, if it has to wait at all.
    pub(super) fn next(&self) -> Option<Instant> {
        self.not_before
    }

    /// Notes a reading that started at `started` and took `took`.
    pub(super) fn ran(&mut self, started: Instant, took: Duration) {
        self.not_before = Some(started + took * SHARE);
    }
}

/// When a learning event may trigger a reading of the local stations to publish: when the
/// datapath's switch-wide count of learned stations differs from the last reading's, within
/// the reading's [`Pace`].
#[derive(Debug, Default)]
pub(super) struct PublishPace {
    /// The count at the last reading.
    learned: u64,
    pace: Pace,
}

impl PublishPace {
    /// Whether a reading is due at `now` with the count at `learned`.
    pub(super) fn due(&self, learned: u64, now: Instant) -> bool {
        learned != self.learned && self.pace.ready(now)
    }

    /// Notes a reading that started at `started` with the count at `learned` and took `took`.
    pub(super) fn read(&mut self, learned: u64, started: Instant, took: Duration) {
        self.learned = learned;
        self.pace.ran(started, took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_station_is_due_at_once_and_an_unchanged_count_never() {
        let mut pace = PublishPace::default();
        let now = Instant::now();
        assert!(!pace.due(0, now), "nothing learned yet");
        assert!(pace.due(1, now));
        pace.read(1, now, Duration::from_micros(100));
        assert!(!pace.due(1, now + Duration::from_secs(1)), "nothing new");
        assert!(pace.due(2, now + Duration::from_millis(1)));
    }

    #[test]
    fn slow_readings_are_spaced_to_a_share_of_the_time() {
        let mut pace = Pace::default();
        let now = Instant::now();
        assert!(
            pace.ready(now) && pace.next().is_none(),
            "the first reading runs at once"
        );
        pace.ran(now, Duration::from_millis(50));
        assert_eq!(pace.next(), Some(now + Duration::from_millis(500)));
        assert!(!pace.ready(now + Duration::from_millis(499)));
        assert!(pace.ready(now + Duration::from_millis(500)));
    }
}
