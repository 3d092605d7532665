//! Spacing the agent's costly readings (a walk of the whole FDB) so that they take at most a
//! share of its time, however often something asks for them. A reading's cost is the CPU time
//! its thread spent on it, not the wall time: on a busy machine a reading that was preempted
//! would otherwise hold the next one back for ten times the preemption.

use std::time::{Duration, Instant};

/// At most 1/N of the agent's time goes to one kind of paced reading.
const SHARE: u32 = 10;

/// The CPU time the calling thread has used: a reading's cost is the difference of two.
pub(super) fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer for a clock every Linux has.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// When a paced reading may run again: after a reading that cost `t`, not before `10 t` from
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

    /// Notes a reading that started at `started` and cost `cost` (CPU time).
    pub(super) fn ran(&mut self, started: Instant, cost: Duration) {
        self.not_before = Some(started + cost * SHARE);
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

    /// Notes a reading that started at `started` with the count at `learned` and cost `cost`
    /// (CPU time).
    pub(super) fn read(&mut self, learned: u64, started: Instant, cost: Duration) {
        self.learned = learned;
        self.pace.ran(started, cost);
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
    fn the_thread_cpu_clock_counts_work_and_not_sleep() {
        let before = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(30));
        let slept = thread_cpu_time() - before;
        assert!(slept < Duration::from_millis(10), "sleeping cost {slept:?}");
        let (before, wall) = (thread_cpu_time(), Instant::now());
        let mut sum = 0u64;
        while thread_cpu_time() - before < Duration::from_millis(5)
            && wall.elapsed() < Duration::from_secs(2)
        {
            sum = std::hint::black_box(sum.wrapping_add(1));
        }
        assert!(
            thread_cpu_time() - before >= Duration::from_millis(5),
            "2 s of spinning cost less than 5 ms ({sum} rounds)"
        );
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
