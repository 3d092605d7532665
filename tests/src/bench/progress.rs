//! The progress display: one line per finished step, with a step count and the elapsed time.

use std::time::Instant;

/// Counts steps towards a known total.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    /// A display for `total` steps.
    pub fn new(total: usize) -> Self {
        Self {
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Reports that the step `what` finished with `result`.
    pub fn step(&mut self, what: &str, result: &str) {
        self.done += 1;
        let seconds = self.started.elapsed().as_secs();
        eprintln!(
            "[{:>3}/{} {:>2}:{:02}] {what:<52} {result}",
            self.done,
            self.total,
            seconds / 60,
            seconds % 60
        );
    }
}
