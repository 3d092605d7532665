//! How busy the machine's cores were over an interval, from `/proc/stat`.

/// Aggregate CPU times, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    /// The times now.
    pub fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").expect("reading /proc/stat");
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .expect("/proc/stat has a cpu line")
            .split_whitespace()
            .skip(1)
            .filter_map(|field| field.parse().ok())
            .collect();
        let total: u64 = fields.iter().take(8).sum();
        // idle and iowait are the 4th and 5th fields.
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        Self {
            busy: total - idle,
            total,
        }
    }

    /// How many cores were busy on average since `self`: 0 to the number of CPUs.
    pub fn busy_cores_since(&self) -> f64 {
        let now = Self::now();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        let busy = now.busy.saturating_sub(self.busy);
        busy as f64 / total as f64 * cpus() as f64
    }
}

/// Online CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
