//! The results of a run: the table, the JSON record, the targets and the smoke check.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{programs::ProgramSize, samples::Samples, topology::Peer};

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// XDP-sourced 64-byte frames delivered per second.
    XdpRate,
    /// Stack-sourced 64-byte frames delivered per second.
    StackRate,
    /// Broadcast XDP-sourced frames delivered per second, all sinks together.
    Flood,
    /// Fully meshed forwarding (RFC 2889, 5.3): stack-sourced frames delivered per second
    /// while every host sends to all the others, all hosts together.
    Mesh,
    /// iperf3 TCP throughput.
    Tcp,
    /// Median ping round trip.
    PingP50,
    /// 99th percentile ping round trip.
    PingP99,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Self; 7] = [
        Self::XdpRate,
        Self::StackRate,
        Self::Flood,
        Self::Mesh,
        Self::Tcp,
        Self::PingP50,
        Self::PingP99,
    ];

    /// Name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::XdpRate => "64 B, XDP-sourced",
            Self::StackRate => "64 B, stack-sourced",
            Self::Flood => "flood to 4 ports, XDP-sourced",
            Self::Mesh => "fully meshed, 4 hosts, stack-sourced",
            Self::Tcp => "TCP, iperf3",
            Self::PingP50 => "ping p50",
            Self::PingP99 => "ping p99",
        }
    }

    /// Key in the JSON record.
    pub fn key(self) -> &'static str {
        match self {
            Self::XdpRate => "xdp_rate",
            Self::StackRate => "stack_rate",
            Self::Flood => "flood_rate",
            Self::Mesh => "mesh_rate",
            Self::Tcp => "tcp",
            Self::PingP50 => "ping_p50",
            Self::PingP99 => "ping_p99",
        }
    }

    /// Unit of the values.
    pub fn unit(self) -> &'static str {
        match self {
            Self::XdpRate | Self::StackRate | Self::Flood | Self::Mesh => "Mpps",
            Self::Tcp => "Gbit/s",
            Self::PingP50 | Self::PingP99 => "µs",
        }
    }

    /// Whether more is better (rates) or less (latency).
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Self::PingP50 | Self::PingP99)
    }
}

/// The values of one metric for one peer.
#[derive(Clone, Debug)]
pub struct Row {
    /// What was measured.
    pub metric: Metric,
    /// On what.
    pub peer: Peer,
    /// One value per repetition, in the metric's unit.
    pub values: Samples,
    /// For rates: Mpps per busy core, per repetition.
    pub per_core: Samples,
    /// For rates: the generator's tx_dropped, summed over repetitions.
    pub tx_dropped: u64,
    /// For rates: the fewest frames one receiving end got in a repetition (0: a sink or a
    /// meshed host was cut off).
    pub fewest: u64,
}

/// A named series of repeated measurements outside the peer table.
#[derive(Clone, Debug)]
pub struct Series {
    /// What was measured.
    pub name: String,
    /// Unit of the values.
    pub unit: &'static str,
    /// One value per repetition.
    pub values: Samples,
}

/// One target of the issues and whether this run met it.
#[derive(Clone, Debug)]
pub struct Target {
    /// What is required.
    pub requirement: &'static str,
    /// What was measured.
    pub measured: String,
    /// Whether it was met.
    pub verdict: Verdict,
}

/// Whether a target was met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Met by the medians, and by every pairing of the repetitions.
    Met,
    /// Missed by the medians, and by every pairing of the repetitions.
    Missed,
    /// The repetitions spread across the target: the run cannot tell.
    WithinNoise,
    /// Not measured in this run.
    NotMeasured,
}

impl Target {
    /// A target on one measured value (nothing repeated to spread): `show` writes it, `met`
    /// judges it; without a value, "not measured".
    pub(super) fn on_value(
        requirement: &'static str,
        value: Option<f64>,
        show: impl Fn(f64) -> String,
        met: impl Fn(f64) -> bool,
    ) -> Self {
        Self {
            requirement,
            measured: value.map_or_else(|| "not measured".to_string(), show),
            verdict: Verdict::of(value.map(met)),
        }
    }
}

impl Verdict {
    /// `Met` or `Missed` for a single value (nothing repeated to spread).
    fn of(met: Option<bool>) -> Self {
        match met {
            Some(true) => Self::Met,
            Some(false) => Self::Missed,
            None => Self::NotMeasured,
        }
    }

    /// Whether it was met, as the JSON record says it: `null` when it cannot tell.
    fn met(self) -> Option<bool> {
        match self {
            Self::Met => Some(true),
            Self::Missed => Some(false),
            Self::WithinNoise | Self::NotMeasured => None,
        }
    }
}

/// The ratio `value / against` of two repeated measurements, need at least `need`: compared
/// on the medians, with the range from the worst pairing (`value`'s minimum over `against`'s
/// maximum) to the best. A run whose range straddles `need` says so instead of claiming.
fn ratio_target(
    requirement: &'static str,
    value: Option<&Samples>,
    against: Option<&Samples>,
    need: f64,
) -> Target {
    let Some((value, against)) = value.zip(against).filter(|(value, against)| {
        value.median().is_finite() && against.median().is_finite() && against.median() > 0.0
    }) else {
        return Target {
            requirement,
            measured: "not measured".to_string(),
            verdict: Verdict::NotMeasured,
        };
    };
    let ratio = value.median() / against.median();
    let (worst, best) = (value.min() / against.max(), value.max() / against.min());
    let repeated = value.0.len() > 1 || against.0.len() > 1;
    let verdict = if worst >= need {
        Verdict::Met
    } else if best < need {
        Verdict::Missed
    } else {
        Verdict::WithinNoise
    };
    let measured = if repeated {
        format!("{ratio:.2}× ({worst:.2}–{best:.2})")
    } else {
        format!("{ratio:.2}×")
    };
    Target {
        requirement,
        measured,
        verdict,
    }
}

/// Everything a run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Kernel, CPU, bridge netfilter.
    pub environment: Value,
    /// The 1-minute load average before and after the run.
    pub load: (f64, f64),
    /// Whether this was a `--quick` run.
    pub quick: bool,
    /// Peer comparisons.
    pub rows: Vec<Row>,
    /// Scale, install and start-up series.
    pub scale: Vec<Series>,
    /// Per-branch `BPF_PROG_TEST_RUN` cost.
    pub branches: Vec<Series>,
    /// The datapath programs' sizes.
    pub programs: Vec<ProgramSize>,
    /// What was not measured, and why.
    pub notes: Vec<String>,
}

impl Report {
    /// The row of `metric` for `peer`.
    pub fn row(&self, metric: Metric, peer: Peer) -> Option<&Row> {
        self.rows
            .iter()
            .find(|row| row.metric == metric && row.peer == peer)
    }

    /// The repetitions of `metric` for `peer`.
    pub fn samples(&self, metric: Metric, peer: Peer) -> Option<&Samples> {
        self.row(metric, peer).map(|row| &row.values)
    }

    /// The median of `metric` for `peer`.
    pub fn median(&self, metric: Metric, peer: Peer) -> Option<f64> {
        self.row(metric, peer)
            .map(|row| row.values.median())
            .filter(|value| value.is_finite())
    }

    /// The reference peer: the default Linux bridge, or without bridge netfilter the other.
    pub fn baseline_peer(&self) -> Peer {
        if self.rows.iter().any(|row| row.peer == Peer::BridgeNf) {
            Peer::BridgeNf
        } else {
            Peer::Bridge
        }
    }

    /// How much better than the reference bridge a row is: its median over the bridge's for
    /// rates, the bridge's over its own for latency.
    pub fn ratio(&self, row: &Row) -> Option<f64> {
        let base = self.median(row.metric, self.baseline_peer())?;
        let value = row.values.median();
        let ratio = if row.metric.higher_is_better() {
            value / base
        } else {
            base / value
        };
        ratio.is_finite().then_some(ratio)
    }

    /// Whether the difference between `row` and the reference bridge is within the spread of
    /// the repetitions: their ranges (minimum to maximum) overlap, so the ratio claims no
    /// difference.
    pub fn within_noise(&self, row: &Row) -> bool {
        let base = self.baseline_peer();
        row.peer != base
            && self.row(row.metric, base).is_some_and(|base| {
                row.values.min() <= base.values.max() && base.values.min() <= row.values.max()
            })
    }

    /// The table as Markdown; a ratio within noise ([`Report::within_noise`]) reads `~1.05`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let base = self.baseline_peer().label();
        let _ = writeln!(
            out,
            "| metric | peer | median | min | max | × {base} | per busy core |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|");
        for row in &self.rows {
            let unit = row.metric.unit();
            let noise = if self.within_noise(row) { "~" } else { "" };
            let ratio = self
                .ratio(row)
                .map_or_else(|| "—".to_string(), |ratio| format!("{noise}{ratio:.2}"));
            let per_core = if row.per_core.0.is_empty() {
                "—".to_string()
            } else {
                format!("{:.2} Mpps", row.per_core.median())
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} {unit} | {} | {} | {ratio} | {per_core} |",
                row.metric.label(),
                row.peer.label(),
                number(row.values.median()),
                number(row.values.min()),
                number(row.values.max()),
            );
        }
        let _ = writeln!(
            out,
            "\n| program | instructions (xlated) | instructions verified |\n|---|---:|---:|"
        );
        for program in &self.programs {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                program.name, program.xlated, program.verified
            );
        }
        for (title, series) in [("scale", &self.scale), ("per-branch cost", &self.branches)] {
            let _ = writeln!(
                out,
                "\n| {title} | median | min | max |\n|---|---:|---:|---:|"
            );
            for entry in series {
                let unit = entry.unit;
                let _ = writeln!(
                    out,
                    "| {} | {} {unit} | {} | {} |",
                    entry.name,
                    number(entry.values.median()),
                    number(entry.values.min()),
                    number(entry.values.max()),
                );
            }
        }
        out
    }

    /// The samples of the scale row called `name`, if it was measured.
    pub fn scale_series(&self, name: &str) -> Option<&Samples> {
        self.scale
            .iter()
            .find(|series| series.name == name)
            .map(|series| &series.values)
    }

    /// The targets of the issues, evaluated on the medians and the spread of the repetitions.
    pub fn targets(&self) -> Vec<Target> {
        let base = self.baseline_peer();
        let get = |metric, peer| self.samples(metric, peer);
        let series = |name: &str| self.scale_series(name);
        let scale = |name: &str| series(name).map(Samples::median);
        let fdb_loss = scale("FDB 1k entries, XDP-sourced")
            .zip(scale("FDB 1M entries, XDP-sourced"))
            .map(|(small, big)| 1.0 - big / small);
        let install = scale("install 100k static FDB entries");
        let live_add = scale(super::LIVE_ADD);
        let live_lost = scale(super::LIVE_LOST);
        let vxlan = |tcp| {
            (
                series(&super::vxlan_series(
                    tcp,
                    super::vxlan::Encapsulator::Vswitch,
                )),
                series(&super::vxlan_series(
                    tcp,
                    super::vxlan::Encapsulator::Kernel,
                )),
            )
        };
        let (vxlan_rate, kernel_vxlan_rate) = vxlan(false);
        let (vxlan_tcp, kernel_vxlan_tcp) = vxlan(true);
        vec![
            ratio_target(
                "XDP-sourced: ≥ 0.90 × plain XDP redirect",
                get(Metric::XdpRate, Peer::Vswitch),
                get(Metric::XdpRate, Peer::XdpRedirect),
                0.9,
            ),
            ratio_target(
                "XDP-sourced: ≥ 5 × default bridge",
                get(Metric::XdpRate, Peer::Vswitch),
                get(Metric::XdpRate, base),
                5.0,
            ),
            ratio_target(
                "flood to 4 ports: ≥ 0.90 × a plain devmap broadcast",
                get(Metric::Flood, Peer::Vswitch),
                get(Metric::Flood, Peer::XdpBroadcast),
                0.9,
            ),
            ratio_target(
                "stack-sourced: ≥ macvlan",
                get(Metric::StackRate, Peer::Vswitch),
                get(Metric::StackRate, Peer::Macvlan),
                1.0,
            ),
            ratio_target(
                "stack-sourced: ≥ 0.90 × a plain TCX redirect_peer",
                get(Metric::StackRate, Peer::Vswitch),
                get(Metric::StackRate, Peer::TcxRedirectPeer),
                0.9,
            ),
            ratio_target(
                "stack-sourced: ≥ 2 × default bridge",
                get(Metric::StackRate, Peer::Vswitch),
                get(Metric::StackRate, base),
                2.0,
            ),
            ratio_target(
                "macvlan dispatch, XDP-sourced outside → child: ≥ 1.3 × the macvlan driver",
                get(Metric::XdpRate, Peer::VswitchMacvlan),
                get(Metric::XdpRate, Peer::Macvlan),
                1.3,
            ),
            ratio_target(
                "macvlan dispatch, stack-sourced child → child: ≥ the macvlan driver",
                get(Metric::StackRate, Peer::VswitchMacvlan),
                get(Metric::StackRate, Peer::Macvlan),
                1.0,
            ),
            ratio_target(
                "TCP: ≥ macvlan",
                get(Metric::Tcp, Peer::Vswitch),
                get(Metric::Tcp, Peer::Macvlan),
                1.0,
            ),
            ratio_target(
                "TCP: ≥ 1.15 × default bridge",
                get(Metric::Tcp, Peer::Vswitch),
                get(Metric::Tcp, base),
                1.15,
            ),
            ratio_target(
                "ping p99: no worse than the default bridge (bridge / vswitch ≥ 1)",
                get(Metric::PingP99, base),
                get(Metric::PingP99, Peer::Vswitch),
                1.0,
            ),
            Target::on_value(
                "1M FDB entries: < 10 % rate loss against 1k",
                fdb_loss,
                |loss| format!("{:.1} % loss", loss * 100.0),
                |loss| loss < 0.10,
            ),
            Target::on_value(
                "100k static FDB entries install in < 1 s",
                install,
                |ms| format!("{ms:.0} ms"),
                |ms| ms < 1000.0,
            ),
            Target::on_value(
                "adding a port to a running switch (64 ports): < 50 ms",
                live_add,
                |ms| format!("{ms:.1} ms"),
                |ms| ms < 50.0,
            ),
            ratio_target(
                "VXLAN 64 B: ≥ 2 × the kernel's vxlan + bridge",
                vxlan_rate,
                kernel_vxlan_rate,
                2.0,
            ),
            ratio_target(
                "VXLAN TCP: ≥ the kernel's vxlan + bridge",
                vxlan_tcp,
                kernel_vxlan_tcp,
                1.0,
            ),
            Target {
                requirement: "untouched hosts lose nothing during live changes",
                measured: live_lost.map_or("not measured".to_string(), |lost| {
                    format!("{lost:.0} pings lost")
                }),
                verdict: Verdict::of(live_lost.map(|lost| lost == 0.0)),
            },
        ]
        .into_iter()
        .chain(super::cluster::targets(self))
        .collect()
    }

    /// The targets as Markdown.
    pub fn targets_table(&self) -> String {
        let mut out =
            String::from("| target | measured (range over repetitions) | met |\n|---|---:|---|\n");
        for target in self.targets() {
            let met = match target.verdict {
                Verdict::Met => "yes",
                Verdict::Missed => "**no**",
                Verdict::WithinNoise => "within noise",
                Verdict::NotMeasured => "—",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {met} |",
                target.requirement, target.measured
            );
        }
        out
    }

    /// The paths that forwarded nothing, to any of their receiving ends: empty when every
    /// measured path carried traffic to every end.
    pub fn silent_paths(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|row| {
                row.values.0.is_empty()
                    || row.values.min().is_nan()
                    || row.values.min() <= 0.0
                    || row.fewest == 0
            })
            .map(|row| format!("{} through {}", row.metric.label(), row.peer.label()))
            .chain(super::cluster::silent(self))
            .collect()
    }

    /// The machine-readable record.
    pub fn json(&self) -> Value {
        let series = |list: &[Series]| -> Vec<Value> {
            list.iter()
                .map(|entry| {
                    json!({
                        "name": entry.name,
                        "unit": entry.unit,
                        "values": entry.values.0,
                        "median": entry.values.median(),
                        "min": entry.values.min(),
                        "max": entry.values.max(),
                    })
                })
                .collect()
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                json!({
                    "metric": row.metric.key(),
                    "peer": row.peer.key(),
                    "unit": row.metric.unit(),
                    "values": row.values.0,
                    "median": row.values.median(),
                    "min": row.values.min(),
                    "max": row.values.max(),
                    "ratio_vs_bridge": self.ratio(row),
                    "ratio_within_noise": self.within_noise(row),
                    "mpps_per_busy_core": row.per_core.0,
                    "generator_tx_dropped": row.tx_dropped,
                })
            })
            .collect();
        let targets: Vec<Value> = self
            .targets()
            .into_iter()
            .map(|target| {
                json!({
                    "target": target.requirement,
                    "measured": target.measured,
                    "met": target.verdict.met(),
                    "within_noise": target.verdict == Verdict::WithinNoise,
                })
            })
            .collect();
        json!({
            "environment": self.environment,
            "loadavg_before": self.load.0,
            "loadavg_after": self.load.1,
            "quick": self.quick,
            "baseline": self.baseline_peer().key(),
            "results": rows,
            "scale": series(&self.scale),
            "per_branch_ns": series(&self.branches),
            "programs": self
                .programs
                .iter()
                .map(|program| json!({
                    "name": program.name,
                    "xlated_instructions": program.xlated,
                    "verified_instructions": program.verified,
                }))
                .collect::<Vec<Value>>(),
            "targets": targets,
            "notes": self.notes,
        })
    }
}

/// Three significant digits, more for small numbers.
fn number(value: f64) -> String {
    if !value.is_finite() {
        "—".to_string()
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[f64]) -> Samples {
        Samples(values.to_vec())
    }

    #[test]
    fn a_target_is_judged_on_the_spread_of_the_repetitions() {
        let against = samples(&[1.0, 1.0, 1.0]);
        let judge =
            |values: &[f64]| ratio_target("t", Some(&samples(values)), Some(&against), 1.3).verdict;
        assert_eq!(judge(&[1.4, 1.5, 1.35]), Verdict::Met);
        assert_eq!(judge(&[1.0, 1.1, 1.2]), Verdict::Missed);
        assert_eq!(judge(&[1.2, 1.35, 1.4]), Verdict::WithinNoise);
        let target = ratio_target("t", Some(&samples(&[1.2, 1.35, 1.4])), Some(&against), 1.3);
        assert_eq!(target.measured, "1.35× (1.20–1.40)");
        assert_eq!(target.verdict.met(), None, "the record claims nothing");
    }

    #[test]
    fn a_path_that_left_one_end_without_frames_is_silent() {
        let row = |peer, fewest| Row {
            metric: Metric::Mesh,
            peer,
            values: samples(&[1.5]),
            per_core: samples(&[0.8]),
            tx_dropped: 0,
            fewest,
        };
        let report = Report {
            rows: vec![row(Peer::Bridge, 1000), row(Peer::Vswitch, 0)],
            ..Report::default()
        };
        assert_eq!(
            report.silent_paths(),
            vec!["fully meshed, 4 hosts, stack-sourced through vswitch".to_string()]
        );
    }

    #[test]
    fn a_ratio_to_the_bridge_within_the_spread_says_so() {
        let row = |peer, values: &[f64]| Row {
            metric: Metric::StackRate,
            peer,
            values: samples(values),
            per_core: Samples::default(),
            tx_dropped: 0,
            fewest: 1,
        };
        let report = Report {
            rows: vec![
                row(Peer::Bridge, &[1.0, 1.2, 1.1]),
                row(Peer::Macvlan, &[1.15, 1.5, 1.4]),
                row(Peer::Vswitch, &[1.3, 1.5, 1.4]),
            ],
            ..Report::default()
        };
        let noisy: Vec<bool> = report
            .rows
            .iter()
            .map(|row| report.within_noise(row))
            .collect();
        assert_eq!(noisy, [false, true, false]);
        assert!(
            report
                .table()
                .contains("| macvlan bridge | 1.40 Mpps | 1.15 | 1.50 | ~1.27 |")
        );
        assert!(
            report
                .table()
                .contains("| vswitch | 1.40 Mpps | 1.30 | 1.50 | 1.27 |")
        );
    }

    #[test]
    fn a_single_measurement_or_a_missing_one_is_judged_plainly() {
        let one =
            |value: f64| ratio_target("t", Some(&samples(&[value])), Some(&samples(&[1.0])), 1.0);
        assert_eq!(one(1.01).verdict, Verdict::Met);
        assert_eq!(one(0.99).verdict, Verdict::Missed);
        assert_eq!(one(0.99).measured, "0.99×");
        let missing = ratio_target("t", None, Some(&samples(&[1.0])), 1.0);
        assert_eq!(missing.verdict, Verdict::NotMeasured);
        let empty = ratio_target("t", Some(&samples(&[])), Some(&samples(&[1.0])), 1.0);
        assert_eq!(empty.verdict, Verdict::NotMeasured);
    }
}
