//! The PNG bar chart: each peer's ratio against the default Linux bridge, per metric.
//!
//! Drawn with plotters' bitmap backend. Text uses the public-domain 8×8 bitmap font of
//! `font8x8`, scaled up, so no TrueType font or font library is needed (offline, headless).

use std::path::Path;

use plotters::prelude::*;

use super::{
    report::{Metric, Report},
    topology::Peer,
};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 560;
const LEFT: i32 = 70;
const RIGHT: i32 = 20;
const TOP: i32 = 60;
const BOTTOM: i32 = 110;
/// The metrics charted; p50 latency is in the table only.
const METRICS: [Metric; 6] = [
    Metric::XdpRate,
    Metric::StackRate,
    Metric::Flood,
    Metric::Mesh,
    Metric::Tcp,
    Metric::PingP99,
];
const COLORS: [RGBColor; 9] = [
    RGBColor(150, 150, 150),
    RGBColor(90, 90, 90),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(240, 228, 66),
    RGBColor(204, 121, 167),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
];

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draws ASCII `text` with its top left corner at `(x, y)`, each font pixel `scale` wide.
fn text(area: &Area<'_>, x: i32, y: i32, text: &str, scale: i32, color: &RGBColor) {
    for (n, character) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(character as usize)
            .copied()
            .unwrap_or([0; 8]);
        let left = x + n as i32 * 8 * scale;
        for (row, bits) in glyph.iter().enumerate() {
            for column in 0..8 {
                if bits & (1 << column) == 0 {
                    continue;
                }
                for dx in 0..scale {
                    for dy in 0..scale {
                        let px = left + column * scale + dx;
                        let py = y + row as i32 * scale + dy;
                        let _ = area.draw_pixel((px, py), color);
                    }
                }
            }
        }
    }
}

/// A metric's name under its group of bars.
fn short_label(metric: Metric) -> &'static str {
    match metric {
        Metric::XdpRate => "64 B, XDP-sourced",
        Metric::StackRate => "64 B, stack-sourced",
        Metric::Flood => "flood to 4 ports",
        Metric::Mesh => "meshed, 4 hosts",
        Metric::Tcp => "TCP (iperf3)",
        Metric::PingP50 => "ping p50",
        Metric::PingP99 => "ping p99",
    }
}

/// Width in pixels of `text` at `scale`.
fn text_width(text: &str, scale: i32) -> i32 {
    text.chars().count() as i32 * 8 * scale
}

/// Writes the chart of `report` to `path`.
pub fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let area = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    area.fill(&WHITE)?;
    let peers: Vec<Peer> = Peer::ALL
        .into_iter()
        .filter(|peer| report.rows.iter().any(|row| row.peer == *peer))
        .collect();
    let ratio =
        |metric: Metric, peer: Peer| report.row(metric, peer).and_then(|row| report.ratio(row));
    let top = METRICS
        .iter()
        .flat_map(|metric| peers.iter().filter_map(|peer| ratio(*metric, *peer)))
        .fold(1.0f64, f64::max)
        * 1.15;
    let plot_height = HEIGHT as i32 - TOP - BOTTOM;
    let y_of = |value: f64| TOP + plot_height - (value / top * f64::from(plot_height)) as i32;
    let black = RGBColor(0, 0, 0);
    let baseline = report.baseline_peer().label();
    text(
        &area,
        LEFT,
        12,
        &format!("Ratio against the Linux {baseline} (= 1.0); higher is better"),
        2,
        &black,
    );
    text(
        &area,
        LEFT,
        36,
        "rates and TCP: peer / bridge; p99 latency: bridge / peer",
        1,
        &black,
    );
    // Axis, grid and the 1.0 line.
    let right = WIDTH as i32 - RIGHT;
    let mut tick = 0.0;
    let step = if top > 6.0 { 1.0 } else { 0.5 };
    while tick <= top {
        let y = y_of(tick);
        let shade = if tick == 1.0 {
            black
        } else {
            RGBColor(225, 225, 225)
        };
        area.draw(&PathElement::new([(LEFT, y), (right, y)], shade))?;
        text(&area, LEFT - 40, y - 4, &format!("{tick:.1}"), 1, &black);
        tick += step;
    }
    area.draw(&PathElement::new(
        [(LEFT, TOP), (LEFT, TOP + plot_height)],
        black,
    ))?;
    let group_width = (right - LEFT) / METRICS.len() as i32;
    let bar_width = (group_width - 20) / peers.len().max(1) as i32;
    for (g, metric) in METRICS.iter().enumerate() {
        let group_left = LEFT + g as i32 * group_width + 10;
        for (p, peer) in peers.iter().enumerate() {
            let color = COLORS[Peer::ALL.iter().position(|x| x == peer).unwrap_or(0)];
            let x = group_left + p as i32 * bar_width;
            match ratio(*metric, *peer) {
                Some(value) => {
                    area.draw(&Rectangle::new(
                        [(x + 1, y_of(value)), (x + bar_width - 2, y_of(0.0))],
                        color.filled(),
                    ))?;
                    let label = format!("{value:.1}");
                    let lx = x + (bar_width - text_width(&label, 1)) / 2;
                    text(&area, lx, y_of(value) - 10, &label, 1, &black);
                }
                None => text(
                    &area,
                    x + bar_width / 2 - 8,
                    y_of(0.0) - 10,
                    "n/a",
                    1,
                    &black,
                ),
            }
        }
        let label = short_label(*metric);
        let lx = LEFT + g as i32 * group_width + (group_width - text_width(label, 1)) / 2;
        text(&area, lx, TOP + plot_height + 8, label, 1, &black);
    }
    // Legend.
    let mut x = LEFT;
    let y = HEIGHT as i32 - 40;
    for peer in &peers {
        let color = COLORS[Peer::ALL.iter().position(|p| p == peer).unwrap_or(0)];
        area.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], color.filled()))?;
        text(&area, x + 20, y + 3, peer.label(), 1, &black);
        x += 40 + text_width(peer.label(), 1);
    }
    area.present()?;
    Ok(())
}
