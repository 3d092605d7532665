//! The loop guard: a port into which learned stations keep moving (the mark of a loop through
//! the outside: the same frames come back in on two ports) is blocked for a hold-down time.
//!
//! The datapath counts the moves into each port (`PortStats::moved_in`); the agent looks at the
//! counts every [`LOOP_GUARD_PERIOD`] and decides here. One port is blocked per look, the one
//! with the most moves: blocking it breaks a loop through two ports, and the other keeps
//! forwarding. After the hold-down the port is unblocked; a loop still there blocks it again
//! within a look or two.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use vswitch_common::port::{PORT_F_BLOCKED, PortConfig};

use super::{AgentError, Port, Switch};
use crate::config::LoopGuardSpec;

/// How often the agent looks at the ports' move counts.
pub const LOOP_GUARD_PERIOD: Duration = Duration::from_millis(200);

/// What the guard decided on one look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardAction {
    /// Block the port: stations moved into it at `moves_per_sec`.
    Block {
        /// The port's name.
        port: String,
        /// The rate seen.
        moves_per_sec: u64,
    },
    /// The port's hold-down is over (or the guard was turned off): unblock it.
    Unblock(String),
}

/// The guard's state: its settings, the move counts it saw last, and the blocked ports.
#[derive(Debug, Default)]
pub struct LoopGuard {
    spec: Option<LoopGuardSpec>,
    seen: BTreeMap<String, u64>,
    last_look: Option<Instant>,
    blocked: BTreeMap<String, Instant>,
}

impl LoopGuard {
    /// A guard with `spec` (off for `None`).
    pub fn new(spec: Option<LoopGuardSpec>) -> Self {
        Self {
            spec,
            ..Self::default()
        }
    }

    /// The settings.
    pub fn spec(&self) -> Option<LoopGuardSpec> {
        self.spec
    }

    /// Changes the settings; blocked ports stay blocked until their hold-down ends (at once
    /// when the guard is turned off).
    pub fn set_spec(&mut self, spec: Option<LoopGuardSpec>) {
        self.spec = spec;
    }

    /// Whether the guard has blocked `port`.
    pub fn is_blocked(&self, port: &str) -> bool {
        self.blocked.contains_key(port)
    }

    /// Looks at the ports' move counts `moved_in` (by port name, as the datapath counts them)
    /// at `now`, and says which port to block or unblock.
    pub fn observe(&mut self, now: Instant, moved_in: &[(String, u64)]) -> Vec<GuardAction> {
        let mut actions = Vec::new();
        let over: Vec<String> = self
            .blocked
            .iter()
            .filter(|(_, until)| self.spec.is_none() || now >= **until)
            .map(|(port, _)| port.clone())
            .collect();
        for port in over {
            self.blocked.remove(&port);
            actions.push(GuardAction::Unblock(port));
        }
        let elapsed = self
            .last_look
            .map(|last| now.saturating_duration_since(last));
        self.last_look = Some(now);
        let previous = std::mem::take(&mut self.seen);
        self.seen = moved_in.iter().cloned().collect();
        let (Some(spec), Some(elapsed)) = (self.spec, elapsed) else {
            return actions;
        };
        let nanos = elapsed.as_nanos().max(1);
        let worst = moved_in
            .iter()
            .filter(|(port, _)| !self.blocked.contains_key(port))
            .filter_map(|(port, count)| {
                let moves = count.saturating_sub(*previous.get(port)?);
                let rate = u128::from(moves) * 1_000_000_000 / nanos;
                Some((port, u64::try_from(rate).unwrap_or(u64::MAX)))
            })
            .filter(|(_, rate)| *rate >= u64::from(spec.moves_per_sec))
            .max_by_key(|(_, rate)| *rate);
        if let Some((port, moves_per_sec)) = worst {
            self.blocked
                .insert(port.clone(), now + Duration::from_secs(spec.hold_secs));
            // The frames already on their way when the block lands still move stations: the
            // next look only takes new counts, and rates are measured again from there.
            self.last_look = None;
            actions.push(GuardAction::Block {
                port: port.clone(),
                moves_per_sec,
            });
        }
        actions
    }
}

impl Switch {
    /// The `PORTS` entry of `port`, with `PORT_F_BLOCKED` while the loop guard blocks it (so
    /// that changing the port does not lift the block).
    pub(super) fn guarded_config(&self, port: &Port) -> PortConfig {
        let mut config = port.config();
        if self.loop_guard.is_blocked(&port.spec.name) {
            config.flags |= PORT_F_BLOCKED;
        }
        config
    }

    /// One look of the loop guard, carried out: a blocked port's `PORTS` entry gets
    /// `PORT_F_BLOCKED` and its learned entries go (its stations are relearned where they
    /// really are); an unblocked one gets its configuration back. Either way its plain flood
    /// groups are written anew, without it while it is blocked.
    pub(super) fn guard_loops(&mut self) -> Result<(), AgentError> {
        if self.loop_guard.spec().is_none() && self.loop_guard.blocked.is_empty() {
            return Ok(());
        }
        let mut moved_in = Vec::with_capacity(self.ports.len());
        for port in &self.ports {
            let stats = self.maps.port_stats(port.slot)?;
            moved_in.push((port.spec.name.clone(), stats.moved_in));
        }
        let actions = self.loop_guard.observe(Instant::now(), &moved_in);
        for action in actions {
            let name = match &action {
                GuardAction::Block { port, .. } | GuardAction::Unblock(port) => port,
            };
            let Some(port) = self.ports.iter().find(|port| &port.spec.name == name) else {
                continue;
            };
            let (ifindex, config) = (port.ifindex, self.guarded_config(port));
            let egress = self.egress()?;
            match action {
                GuardAction::Block {
                    port,
                    moves_per_sec,
                } => {
                    self.maps.set_port(ifindex, config, &egress)?;
                    self.maps.flush_learned(ifindex)?;
                    let hold = self.loop_guard.spec().map_or(0, |spec| spec.hold_secs);
                    log::warn!(
                        "loop guard: port {port} blocked for {hold} s: stations moved into it \
                         {moves_per_sec} times a second (a loop through the outside?)"
                    );
                }
                GuardAction::Unblock(port) => {
                    self.maps.set_port(ifindex, config, &egress)?;
                    log::info!("loop guard: port {port} unblocked after its hold-down");
                }
            }
            self.write_flood_groups()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: LoopGuardSpec = LoopGuardSpec {
        moves_per_sec: 100,
        hold_secs: 5,
    };

    fn counts(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs
            .iter()
            .map(|(port, count)| ((*port).to_string(), *count))
            .collect()
    }

    #[test]
    fn the_port_with_the_most_moves_over_the_threshold_is_blocked_then_released() {
        let mut guard = LoopGuard::new(Some(SPEC));
        let start = Instant::now();
        assert!(
            guard
                .observe(start, &counts(&[("a", 0), ("b", 0), ("c", 0)]))
                .is_empty()
        );
        // In a second: 5000 moves into a, 4000 into b, 50 into c.
        let later = start + Duration::from_secs(1);
        let actions = guard.observe(later, &counts(&[("a", 5000), ("b", 4000), ("c", 50)]));
        assert_eq!(
            actions,
            vec![GuardAction::Block {
                port: "a".into(),
                moves_per_sec: 5000
            }]
        );
        assert!(guard.is_blocked("a"));
        // Frames in flight still moved stations into b before the block landed: the next
        // look only takes the counts.
        let landing = later + Duration::from_millis(200);
        let late = counts(&[("a", 5000), ("b", 4100), ("c", 50)]);
        assert!(guard.observe(landing, &late).is_empty());
        // The loop is broken: b calms down, and nothing else is blocked.
        let calm = later + Duration::from_secs(1);
        let quiet = counts(&[("a", 5000), ("b", 4100), ("c", 60)]);
        assert!(guard.observe(calm, &quiet).is_empty());
        // After the hold-down, a is released.
        let after = later + Duration::from_secs(SPEC.hold_secs);
        assert_eq!(
            guard.observe(after, &quiet),
            vec![GuardAction::Unblock("a".into())]
        );
        assert!(!guard.is_blocked("a"));
    }

    #[test]
    fn a_slow_trickle_of_moves_is_no_loop() {
        let mut guard = LoopGuard::new(Some(SPEC));
        let start = Instant::now();
        guard.observe(start, &counts(&[("a", 0)]));
        let actions = guard.observe(start + Duration::from_secs(1), &counts(&[("a", 99)]));
        assert!(actions.is_empty());
    }

    #[test]
    fn turning_the_guard_off_releases_every_port() {
        let mut guard = LoopGuard::new(Some(SPEC));
        let start = Instant::now();
        guard.observe(start, &counts(&[("a", 0)]));
        guard.observe(start + Duration::from_secs(1), &counts(&[("a", 1000)]));
        assert!(guard.is_blocked("a"));
        guard.set_spec(None);
        assert_eq!(
            guard.observe(start + Duration::from_secs(2), &counts(&[("a", 1000)])),
            vec![GuardAction::Unblock("a".into())]
        );
    }

    #[test]
    fn a_port_seen_for_the_first_time_is_only_recorded() {
        let mut guard = LoopGuard::new(Some(SPEC));
        let start = Instant::now();
        guard.observe(start, &counts(&[]));
        let actions = guard.observe(start + Duration::from_secs(1), &counts(&[("new", 10_000)]));
        assert!(actions.is_empty());
    }
}
