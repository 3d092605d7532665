//! A `vswitch run` process inside a test namespace, stopped (and so cleaned up) on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Output},
    thread,
    time::{Duration, Instant},
};

use crate::{names, netns::Netns};

/// How long a switch may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The vswitch binary: `$VSWITCH_BIN` (set by `cargo xtask test`), else the debug build.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("VSWITCH_BIN") {
        return PathBuf::from(path);
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/vswitch");
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

/// A running switch instance.
#[derive(Debug)]
pub struct Switch {
    child: Option<Child>,
    name: String,
    netns: String,
    config: PathBuf,
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

    fn spawn(netns: &Netns, config: &str) -> Self {
        let name = names::unique("sw");
        let path = std::env::temp_dir().join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("writing the test config");
        let child = Command::new("ip")
            .args(["netns", "exec", netns.name()])
            .arg(binary())
            .args(["--name", &name, "run", "--config"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting vswitch run");
        Self {
            child: Some(child),
            name,
            netns: netns.name().to_string(),
            config: path,
        }
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
            if self.vswitch(&["port", "show"]).status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "vswitch did not come up in time");
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The instance name.
    pub fn name(&self) -> &str {
        &self.name
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
    }
}
