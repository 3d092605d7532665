//! Driving `vswitch-cni` (or any CNI plugin) as a runtime does: `CNI_*` in the environment, the
//! network config on stdin, `CNI_PATH` with Debian's real `host-local`, the plugin running in
//! the switch's namespace.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::{Value, json};

use crate::names;

/// Where Debian's `containernetworking-plugins` installs the reference plugins.
pub const DEBIAN_PLUGINS: &str = "/usr/lib/cni";

/// The plugin binary: `$VSWITCH_CNI_BIN` (set by `cargo xtask test`), else the debug build.
pub fn binary() -> PathBuf {
    crate::switch::built("VSWITCH_CNI_BIN", "vswitch-cni")
}

/// `CNI_PATH`: the plugin's own directory, then Debian's plugins.
pub fn cni_path() -> String {
    let own = binary();
    let dir = own.parent().expect("the binary is in a directory");
    format!("{}:{DEBIAN_PLUGINS}", dir.display())
}

/// What a plugin call printed and how it ended.
#[derive(Debug)]
pub struct Reply {
    /// The exit status.
    pub code: Option<i32>,
    /// Stdout as JSON (`Null` when empty).
    pub json: Value,
    /// Stderr.
    pub stderr: String,
}

impl Reply {
    /// The reply of a call that must succeed.
    pub fn ok(self) -> Value {
        assert_eq!(self.code, Some(0), "the plugin failed: {self:?}");
        self.json
    }

    /// The spec error code of a call that must fail.
    pub fn error_code(&self) -> u64 {
        assert_ne!(self.code, Some(0), "the plugin succeeded: {self:?}");
        self.json["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no error object: {self:?}"))
    }

    /// The error message of a call that failed.
    pub fn message(&self) -> &str {
        self.json["msg"].as_str().unwrap_or_default()
    }
}

/// Runs `plugin` inside namespace `netns` (with `nsenter --net`, as a runtime in that namespace
/// would) with `env` and `stdin`.
pub fn call(plugin: &Path, netns: &str, env: &[(&str, &str)], stdin: &Value) -> Reply {
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{netns}"))
        .arg(plugin)
        .env("CNI_PATH", cni_path())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the plugin");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.to_string().as_bytes())
        .expect("writing the config");
    let output = child.wait_with_output().expect("waiting for the plugin");
    Reply {
        code: output.status.code(),
        json: serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A CNI network for one test: a unique name, a subnet, and a directory for the plugin's and
/// host-local's records, removed on drop.
#[derive(Debug)]
pub struct Network {
    name: String,
    dir: PathBuf,
    config: Value,
    plugin: PathBuf,
}

impl Network {
    /// A `vswitch-cni` network on switch instance `switch` with host-local addresses from
    /// `subnet`; `extra` keys are merged into the config.
    pub fn vswitch(switch: &str, subnet: &str, extra: &Value) -> Self {
        let mut network = Self::new(binary(), "vswitch-cni", subnet);
        network.config["switch"] = switch.into();
        network.config["dataDir"] = network.dir.join("attachments").display().to_string().into();
        network.merge(extra);
        network
    }

    /// A network of Debian's reference `bridge` plugin on bridge `bridge`, with `extra` keys.
    pub fn bridge(bridge: &str, subnet: &str, extra: &Value) -> Self {
        let mut network = Self::new(
            PathBuf::from(DEBIAN_PLUGINS).join("bridge"),
            "bridge",
            subnet,
        );
        network.config["bridge"] = bridge.into();
        network.merge(extra);
        network
    }

    fn new(plugin: PathBuf, kind: &str, subnet: &str) -> Self {
        let name = names::unique("cn");
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("creating the network's directory");
        let config = json!({
            "cniVersion": "1.0.0",
            "name": name,
            "type": kind,
            "ipam": {
                "type": "host-local",
                "subnet": subnet,
                "dataDir": dir.join("ipam").display().to_string(),
            },
        });
        Self {
            name,
            dir,
            config,
            plugin,
        }
    }

    /// Sets the keys of `extra`; an object (such as `ipam`) is merged into the one there.
    fn merge(&mut self, extra: &Value) {
        for (key, value) in extra.as_object().expect("extra keys are an object") {
            match (self.config.get_mut(key), value.as_object()) {
                (Some(Value::Object(existing)), Some(fields)) => {
                    existing.extend(fields.clone());
                }
                _ => self.config[key] = value.clone(),
            }
        }
    }

    /// The network's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network config a runtime would send.
    pub fn config(&self) -> Value {
        self.config.clone()
    }

    /// Whether host-local still holds an address for anyone in this network.
    pub fn allocated(&self) -> Vec<String> {
        let dir = self.dir.join("ipam").join(&self.name);
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.parse::<std::net::IpAddr>().is_ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Calls the plugin for `operation` on container `container` (its namespace `netns`,
    /// interface `eth0`), run in namespace `runtime_netns`, with config `config`.
    pub fn call_with(
        &self,
        runtime_netns: &str,
        operation: &str,
        container: &str,
        netns: Option<&str>,
        config: &Value,
    ) -> Reply {
        let netns_path = netns.map(|netns| format!("/run/netns/{netns}"));
        let mut env = vec![
            ("CNI_COMMAND", operation),
            ("CNI_CONTAINERID", container),
            ("CNI_IFNAME", "eth0"),
        ];
        if let Some(path) = &netns_path {
            env.push(("CNI_NETNS", path));
        }
        call(&self.plugin, runtime_netns, &env, config)
    }

    /// ADD of container `container` in namespace `netns`, which must succeed; its result.
    pub fn add(&self, runtime_netns: &str, container: &str, netns: &str) -> Value {
        self.call_with(runtime_netns, "ADD", container, Some(netns), &self.config)
            .ok()
    }

    /// The IPv4 address (without prefix) an ADD result gave the container.
    pub fn address(result: &Value) -> String {
        let cidr = result["ips"][0]["address"]
            .as_str()
            .unwrap_or_else(|| panic!("no address in {result}"));
        cidr.split('/').next().expect("a CIDR").to_string()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
