//! A `vswitch run` process inside a test namespace, stopped (and so cleaned up) on drop.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output},
    thread,
    time::{Duration, Instant},
};

use crate::{names, netns::Netns};

/// How long a switch may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The vswitch binary: `$VSWITCH_BIN` (set by `cargo xtask test`), else the debug build.
pub fn binary() -> PathBuf {
    built("VSWITCH_BIN", "vswitch")
}

/// A binary of the workspace: the path in `$VARIABLE` (set by `cargo xtask test`), else the
/// debug build of `name`.
pub fn built(variable: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/debug")
        .join(name);
    assert!(
        path.exists(),
        "{} does not exist: run the tests with `cargo xtask test`",
        path.display()
    );
    path
}

/// Runs `vswitch ARGS` inside namespace `netns`.
pub fn vswitch_in(netns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(binary())
        .args(args)
        .output()
        .expect("running vswitch")
}

/// Runs `vswitch ARGS` inside namespace `netns` as user `nobody`, without root's capabilities.
pub fn vswitch_as_nobody_in(netns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", netns])
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(binary())
        .args(args)
        .output()
        .expect("running vswitch")
}

/// How the agent is put into the switch namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Launch {
    /// `ip netns exec NS`: the agent sees a fresh sysfs, so its pins die with it.
    NetnsExec,
    /// `nsenter --net=/run/netns/NS`: the network namespace only, with the machine's
    /// `/sys/fs/bpf`, so the pins outlive the agent and the next one adopts them.
    Nsenter,
}

/// A running switch instance.
#[derive(Debug)]
pub struct Switch {
    child: Option<Child>,
    name: String,
    netns: String,
    config: PathBuf,
    launch: Launch,
}

impl Switch {
    /// Starts `vswitch run` with `config` inside `netns` and waits until it serves `port show`.
    pub fn start(netns: &Netns, config: &str) -> Self {
        let mut switch = Self::spawn(netns, config);
        switch.wait_ready();
        switch
    }

    /// Starts `vswitch run` like [`Switch::start`] and returns how long the agent took until it
    /// published its instance record, which it does once every port is up; polled every
    /// millisecond.
    pub fn start_timed(netns: &Netns, config: &str) -> (Self, Duration) {
        let started = Instant::now();
        let mut switch = Self::spawn(netns, config);
        while vswitch::state::InstanceState::read(&switch.name).is_err() {
            switch.assert_alive();
            assert!(
                started.elapsed() < START_TIMEOUT,
                "vswitch did not come up in time"
            );
            thread::sleep(Duration::from_millis(1));
        }
        let elapsed = started.elapsed();
        switch.wait_ready();
        (switch, elapsed)
    }

    /// Starts `vswitch run OPTIONS` like [`Switch::start`], but entering only the network
    /// namespace (`nsenter --net`): its pins live in the machine's `/sys/fs/bpf`, so an agent
    /// killed or stopped with `--keep` leaves a switch that [`Switch::restart`] adopts.
    pub fn start_pinned(netns: &Netns, config: &str, options: &[&str]) -> Self {
        let mut switch = Self::spawn_pinned(netns, config, options);
        switch.wait_ready();
        switch
    }

    /// Spawns `vswitch run OPTIONS` like [`Switch::start_pinned`] without waiting for it: the
    /// agent may be anywhere in its set-up when the caller acts (say, kills it).
    pub fn spawn_pinned(netns: &Netns, config: &str, options: &[&str]) -> Self {
        let mut switch = Self::new(netns, config, Launch::Nsenter);
        switch.child = Some(switch.launch(options));
        switch
    }

    fn spawn(netns: &Netns, config: &str) -> Self {
        let mut switch = Self::new(netns, config, Launch::NetnsExec);
        switch.child = Some(switch.launch(&[]));
        switch
    }

    /// An instance with a unique name and its config file written, not started yet.
    fn new(netns: &Netns, config: &str, launch: Launch) -> Self {
        let name = names::unique("sw");
        let path = std::env::temp_dir().join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("writing the test config");
        Self {
            child: None,
            name,
            netns: netns.name().to_string(),
            config: path,
            launch,
        }
    }

    /// Spawns `vswitch --name NAME run --config FILE OPTIONS` in the switch namespace.
    fn launch(&self, options: &[&str]) -> Child {
        let mut command = match self.launch {
            Launch::NetnsExec => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", &self.netns]);
                command
            }
            Launch::Nsenter => {
                let mut command = Command::new("nsenter");
                command.arg(format!("--net=/run/netns/{}", self.netns));
                command
            }
        };
        command
            .arg(binary())
            .args(["--name", &self.name, "run", "--config"])
            .arg(&self.config)
            .args(options)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting vswitch run")
    }

    fn assert_alive(&mut self) {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!("vswitch run exited during start-up with {status}");
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.assert_alive();
            if self.serves() {
                return;
            }
            assert!(Instant::now() < deadline, "vswitch did not come up in time");
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether this process's agent (not a predecessor whose record is still there) has
    /// published its record and socket and answers `port show`.
    fn serves(&self) -> bool {
        let Some(child) = &self.child else {
            return false;
        };
        vswitch::state::InstanceState::read(&self.name).is_ok_and(|state| state.pid == child.id())
            && vswitch::control::socket_path(&self.name).exists()
            && self.vswitch(&["port", "show"]).status.success()
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace the switch runs in.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The config file the agent reads (again on SIGHUP and `reload`).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Replaces the config file's text; the agent reads it on its next SIGHUP or `reload`.
    pub fn rewrite_config(&self, config: &str) {
        std::fs::write(&self.config, config).expect("rewriting the test config");
    }

    /// Sends `signal` to the agent.
    pub fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the switch is running");
        // SAFETY: signalling our own child, which has not been reaped.
        let ret = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(ret, 0, "signalling the agent");
    }

    /// Whether the agent process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the agent with SIGKILL, so it cleans nothing up, and reaps it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the switch is running");
        child.kill().expect("killing the agent");
        child.wait().expect("reaping the agent");
    }

    /// Stops the agent with SIGINT like [`Switch::stop`], keeping the guard for a
    /// [`Switch::restart`]; returns the agent's exit status.
    pub fn halt(&mut self) -> ExitStatus {
        self.interrupt().expect("the switch was running")
    }

    /// Starts `vswitch run OPTIONS` again, with the same name, namespace and config file, after
    /// [`Switch::kill`] or [`Switch::halt`]; waits until the new agent serves.
    pub fn restart(&mut self, options: &[&str]) {
        assert!(self.child.is_none(), "the previous agent still runs");
        self.child = Some(self.launch(options));
        self.wait_ready();
    }

    /// Runs `vswitch --name NAME ARGS` against this instance.
    pub fn vswitch(&self, args: &[&str]) -> Output {
        let mut full = vec!["--name", &self.name];
        full.extend_from_slice(args);
        vswitch_in(&self.netns, &full)
    }

    /// Runs a `--json` show command and parses its output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut full = args.to_vec();
        full.push("--json");
        let output = self.vswitch(&full);
        assert!(
            output.status.success(),
            "vswitch {} failed: {}",
            full.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("vswitch prints JSON")
    }

    /// The rows of a `--json` show command that prints an array (`fdb show`, `port show`).
    pub fn rows(&self, args: &[&str]) -> Vec<serde_json::Value> {
        match self.json(args) {
            serde_json::Value::Array(rows) => rows,
            other => panic!("vswitch {} printed no array: {other}", args.join(" ")),
        }
    }

    /// Counters of port `name` from `stats --json`.
    pub fn stats_of(&self, port: &str) -> serde_json::Value {
        self.json(&["stats"])
            .as_array()
            .expect("stats is an array")
            .iter()
            .find(|row| row["port"] == port)
            .unwrap_or_else(|| panic!("no stats for port {port}"))
            .clone()
    }

    /// Sends SIGINT and waits for the agent to exit; returns its status.
    pub fn stop(mut self) -> ExitStatus {
        self.interrupt().expect("the switch was running")
    }

    fn interrupt(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.interrupt();
        let _ = std::fs::remove_file(&self.config);
        // What an agent that was killed (or stopped with --keep) and not restarted left; a
        // normal stop leaves none of it.
        let _ = std::fs::remove_dir_all(vswitch::state::pin_dir(&self.name));
        vswitch::state::InstanceState::remove(&self.name);
        let _ = std::fs::remove_file(vswitch::control::socket_path(&self.name));
        vswitch::agent::pending::clear(&self.name);
    }
}
