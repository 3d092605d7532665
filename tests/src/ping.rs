//! A `ping` running in the background inside a namespace, and its summary.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

/// What `ping` reported when it finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingSummary {
    /// Echo requests sent.
    pub transmitted: u64,
    /// Echo replies received.
    pub received: u64,
}

impl PingSummary {
    /// Requests without a reply.
    pub fn lost(&self) -> u64 {
        self.transmitted.saturating_sub(self.received)
    }

    /// Parses the `N packets transmitted, M received` line of ping's output.
    pub fn parse(output: &str) -> Option<Self> {
        let line = output
            .lines()
            .find(|line| line.contains("packets transmitted"))?;
        let mut numbers = line
            .split(',')
            .map(|part| part.split_whitespace().next()?.parse::<u64>().ok());
        Some(Self {
            transmitted: numbers.next()??,
            received: numbers.next()??,
        })
    }
}

/// `ping -q -i INTERVAL -c COUNT ADDRESS` inside a namespace, killed on drop.
#[derive(Debug)]
pub struct PingStream {
    child: Option<Child>,
}

impl PingStream {
    /// Starts sending `count` echo requests to `address` from `netns`, one every `interval`.
    pub fn start(netns: &str, address: &str, interval: Duration, count: u32) -> Self {
        let child = Command::new("ip")
            .args(["netns", "exec", netns, "ping", "-q", "-i"])
            .arg(format!("{:.3}", interval.as_secs_f64()))
            .args(["-c", &count.to_string(), "-W", "1", address])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting ping");
        Self { child: Some(child) }
    }

    /// Whether ping is still sending.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Waits for ping to finish and returns its summary.
    pub fn finish(mut self) -> PingSummary {
        let child = self.child.take().expect("ping was started");
        let output = child.wait_with_output().expect("waiting for ping");
        let stdout = String::from_utf8_lossy(&output.stdout);
        PingSummary::parse(&stdout).unwrap_or_else(|| {
            panic!(
                "no summary from ping ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}

impl Drop for PingStream {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PingSummary;

    #[test]
    fn parses_the_summary_line() {
        let output = "--- 10.0.0.2 ping statistics ---\n\
                      5000 packets transmitted, 4998 received, 0.04% packet loss, time 10230ms\n";
        let summary = PingSummary::parse(output).expect("a summary");
        assert_eq!(summary.transmitted, 5000);
        assert_eq!(summary.received, 4998);
        assert_eq!(summary.lost(), 2);
    }

    #[test]
    fn parses_a_summary_with_errors() {
        let output = "3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2ms\n";
        assert_eq!(
            PingSummary::parse(output),
            Some(PingSummary {
                transmitted: 3,
                received: 0
            })
        );
    }
}
