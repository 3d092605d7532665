//! `vswitch run [--config FILE] [--keep]`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use vswitch::{
    agent::Switch,
    config::Config,
    metrics::{DEFAULT_ADDRESS, MetricsServer, parse_address},
};

use super::{EXIT_USAGE, Failure, check};

/// Where an instance's config file is looked for when `--config` is not given.
pub const CONFIG_DIR: &str = "/etc/vswitch";

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file; without it, /etc/vswitch/NAME.toml if there is one, else the
    /// built-in demo.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Leave devices and namespaces in place on exit.
    #[arg(long)]
    pub keep: bool,
    /// Datapath log level (aya-log): off, error, warn, info, debug or trace.
    #[arg(long, default_value = "off", value_parser = parse_level)]
    pub datapath_log: u8,
    /// Offload for existing ports without their own `offload`: off, xdp, tc, xdp-required or
    /// tc-required (overrides `[switch] offload`).
    #[arg(long)]
    pub offload: Option<vswitch::offload::Offload>,
    /// Serve Prometheus metrics on http://ADDR/metrics: ADDRESS:PORT, or a port on loopback
    /// (127.0.0.1:9469 without a value). Off by default.
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = DEFAULT_ADDRESS,
        value_parser = parse_address,
    )]
    pub metrics: Option<SocketAddr>,
}

fn parse_level(text: &str) -> Result<u8, String> {
    // aya-log's levels: Error = 1 ... Trace = 5.
    ["off", "error", "warn", "info", "debug", "trace"]
        .iter()
        .position(|level| *level == text)
        .map(|level| level as u8)
        .ok_or_else(|| format!("{text:?} is not one of off, error, warn, info, debug, trace"))
}

/// Runs the switch until SIGINT or SIGTERM.
pub async fn run(name: &str, args: Args) -> Result<(), Failure> {
    let config_path = args.config.clone().or_else(|| {
        let default = Path::new(CONFIG_DIR).join(format!("{name}.toml"));
        default.exists().then_some(default)
    });
    let mut config = check::load(config_path.as_ref())?;
    override_name(&mut config, name)?;
    if let Some(offload) = args.offload {
        config.offload = offload;
    }
    // Bound before anything is made, so a busy port fails the start cleanly; scrapes before
    // the switch is up are answered 503.
    let metrics = match args.metrics {
        Some(address) => {
            let server = MetricsServer::start(&config.name, address).await?;
            log::info!("metrics on http://{}/metrics", server.address());
            Some(server)
        }
        None => None,
    };
    let mut switch = Switch::start(&config, args.datapath_log).await?;
    if args.datapath_log > 0 {
        forward_datapath_logs(&mut switch)?;
    }
    print_ready(&switch, &config);
    let result = switch.run_until_signal(config_path).await;
    drop(metrics);
    log::info!("stopping switch {}", switch.name());
    switch.stop(args.keep).await;
    result.map_err(Failure::from)
}

/// `--name` wins over the file's name when given explicitly (it defaults to the file's).
fn override_name(config: &mut Config, name: &str) -> Result<(), Failure> {
    if name != vswitch::config::DEFAULT_NAME {
        vswitch::config::check_instance_name(name).map_err(|reason| Failure {
            error: anyhow::anyhow!(reason),
            code: EXIT_USAGE,
        })?;
        config.name = name.to_string();
    }
    Ok(())
}

fn forward_datapath_logs(switch: &mut Switch) -> Result<(), Failure> {
    let logger = aya_log::EbpfLogger::init(switch.ebpf_mut())?;
    #[expect(
        deprecated,
        reason = "facts.md: the replacement needs tokio internals we do not use"
    )]
    let mut logger =
        tokio::io::unix::AsyncFd::with_interest(logger, tokio::io::Interest::READABLE)?;
    tokio::spawn(async move {
        loop {
            let Ok(mut guard) = logger.readable_mut().await else {
                return;
            };
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    });
    Ok(())
}

fn print_ready(switch: &Switch, config: &Config) {
    log::info!(
        "switch {} is up with {}; Ctrl-C stops it and removes what it created",
        switch.name(),
        config.summary(switch.ports().len())
    );
    let hosts: Vec<(&str, String)> = config
        .ports
        .iter()
        .filter_map(|port| match &port.kind {
            vswitch::config::PortKind::Veth { netns, addresses } => addresses
                .iter()
                .find(|(address, _)| address.is_ipv4())
                .map(|(address, _)| (netns.as_str(), address.to_string())),
            vswitch::config::PortKind::Existing => None,
        })
        .collect();
    if let [(from, _), (_, to), ..] = hosts.as_slice() {
        let binary = std::env::current_exe()
            .map_or_else(|_| "vswitch".to_string(), |path| path.display().to_string());
        println!("Try it:");
        println!("  ip netns exec {from} ping -c 3 {to}");
        println!("  {binary} --name {} fdb show", switch.name());
        println!("  {binary} --name {} stats", switch.name());
    }
}
