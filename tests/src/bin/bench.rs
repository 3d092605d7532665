//! `bench [--quick] [--only cluster] [--json FILE] [--chart FILE]`: the benchmark of
//! `cargo xtask bench`. Prints the table and the targets, writes the JSON record and the PNG
//! chart, and fails if any measured path forwarded nothing (the smoke check; never a speed
//! threshold). `--only cluster` measures the cluster rows alone.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use tests::bench::{self, Plan, chart};

fn main() -> anyhow::Result<()> {
    let mut quick = false;
    let mut json = None;
    let mut chart_path = None;
    let mut cluster_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => match args.next().as_deref() {
                Some("cluster") => cluster_only = true,
                other => bail!("--only takes `cluster`, not {other:?}"),
            },
            "--json" => json = Some(PathBuf::from(args.next().context("--json needs a FILE")?)),
            "--chart" => {
                chart_path = Some(PathBuf::from(args.next().context("--chart needs a FILE")?));
            }
            other => bail!(
                "unknown argument {other:?}; usage: bench [--quick] [--only cluster] [--json FILE] \
                 [--chart FILE]"
            ),
        }
    }
    let report = if cluster_only {
        bench::cluster::run(quick)
    } else {
        bench::run(&Plan::new(quick), quick)
    };
    println!("{}", report.table());
    println!("{}", report.targets_table());
    for note in &report.notes {
        println!("- {note}");
    }
    println!(
        "load average: {:.2} before, {:.2} after",
        report.load.0, report.load.1
    );
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report.json())?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = chart_path {
        chart::draw(&report, &path)
            .map_err(|error| anyhow::anyhow!("drawing {}: {error}", path.display()))?;
    }
    let silent = report.silent_paths();
    if !silent.is_empty() {
        bail!("no traffic forwarded: {}", silent.join("; "));
    }
    Ok(())
}
