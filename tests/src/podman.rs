//! Debian's podman with its CNI backend, kept inside a test: its own storage, run and config
//! directories, a busybox rootfs imported offline, and every command under
//! `nsenter --net=/run/netns/NS` so that the CNI plugins act in the test's namespace (see
//! `shared/docs/facts.md`: runc, cgroupfs, low ulimits).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::json;

use crate::{cni::Network, names};

/// The image every container runs.
const IMAGE: &str = "localhost/vswitch-test-busybox:latest";

/// Debian's busybox-static.
const BUSYBOX: &str = "/bin/busybox";

/// A podman set-up for one network, removed (containers, images, directories) on drop.
#[derive(Debug)]
pub struct Podman {
    dir: PathBuf,
    netns: String,
    network: String,
}

impl Podman {
    /// Podman acting in namespace `netns`, with `network` as its only CNI network, the plugin
    /// found in `plugin_dir`, and the busybox image imported.
    pub fn new(netns: &str, network: &Network, plugin_dir: &Path) -> Self {
        let dir = std::env::temp_dir().join(names::unique("pm"));
        let cni = dir.join("net.d");
        std::fs::create_dir_all(&cni).expect("creating podman's directories");
        let conflist = json!({
            "cniVersion": network.config()["cniVersion"],
            "name": network.name(),
            "plugins": [network.config()],
        });
        std::fs::write(
            cni.join(format!("{}.conflist", network.name())),
            conflist.to_string(),
        )
        .expect("writing the conflist");
        let conf = format!(
            "[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\", \"{}\"]\n\
             network_config_dir = \"{}\"\n[engine]\nevents_logger = \"none\"\n",
            plugin_dir.display(),
            crate::cni::DEBIAN_PLUGINS,
            cni.display()
        );
        std::fs::write(dir.join("containers.conf"), conf).expect("writing containers.conf");
        let podman = Self {
            dir,
            netns: netns.to_string(),
            network: network.name().to_string(),
        };
        podman.import_busybox();
        podman
    }

    /// A rootfs of busybox-static and its applets, imported as [`IMAGE`].
    fn import_busybox(&self) {
        let rootfs = self.dir.join("rootfs");
        let bin = rootfs.join("bin");
        std::fs::create_dir_all(&bin).expect("creating the rootfs");
        std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copying busybox-static");
        for applet in ["sh", "ping", "ip", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("an applet link");
        }
        let tar = self.dir.join("rootfs.tar");
        crate::command::run(
            "tar",
            &[
                "-C",
                &rootfs.display().to_string(),
                "-cf",
                &tar.display().to_string(),
                ".",
            ],
        );
        self.ok(&["import", &tar.display().to_string(), IMAGE]);
    }

    /// `podman ARGS`, with this set-up's directories, in the test's namespace.
    pub fn command(&self, args: &[&str]) -> Output {
        let path = |name: &str| self.dir.join(name).display().to_string();
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("podman")
            .args(["--root", &path("root"), "--runroot", &path("run")])
            .args(["--tmpdir", &path("tmp"), "--storage-driver", "vfs"])
            .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
            .args([
                "--network-backend",
                "cni",
                "--cni-config-dir",
                &path("net.d"),
            ])
            .args(args)
            .env("CONTAINERS_CONF", path("containers.conf"))
            .output()
            .expect("running podman")
    }

    /// `podman ARGS`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.command(args);
        assert!(
            output.status.success(),
            "podman {} failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Starts container `name` on the network, idle; its IPv4 address.
    pub fn start(&self, name: &str) -> String {
        self.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            &self.network,
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            IMAGE,
            "sleep",
            "600",
        ]);
        self.ok(&[
            "inspect",
            name,
            "--format",
            &format!(
                "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                self.network
            ),
        ])
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.command(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.command(&["rmi", "--all", "--force"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
