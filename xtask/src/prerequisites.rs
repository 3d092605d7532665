//! Installs what building and testing need on a fresh machine, or stops with a clear message.

use std::process::Command;

use anyhow::{Context as _, bail};

/// The bpf-linker that links with rustc's own LLVM; later versions need a system LLVM 22+.
const BPF_LINKER_VERSION: &str = "0.10.3";

/// Debian packages the namespace tests run, by the command they provide.
const TEST_PACKAGES: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("iperf3", "iperf3"),
    // The VM group's offload tests (the guest sees the host's root).
    ("bpftool", "bpftool"),
    ("ethtool", "ethtool"),
    ("devlink", "iproute2"),
    // The cluster suite's etcd members, and their health checks.
    ("etcd", "etcd-server"),
    ("curl", "curl"),
];

/// Debian packages the build needs: `etcd-client` compiles etcd's protobuf definitions with
/// protoc, which needs the well-known types (`google/protobuf/*.proto`) of libprotobuf-dev.
const BUILD_DEBIAN_PACKAGES: &[&str] = &["protobuf-compiler", "libprotobuf-dev"];

/// Debian's hook that tells package scripts whether they may start services.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Debian packages the tests use by path rather than by command: the reference CNI plugins
/// (`/usr/lib/cni/host-local`, `bridge`), and podman with runc and a static busybox for the
/// container rootfs of the CNI suite.
const TEST_DEBIAN_PACKAGES: &[&str] = &[
    "containernetworking-plugins",
    "podman",
    "runc",
    "busybox-static",
];

/// Python modules the tests import, by the Debian package that provides them: the metrics
/// test checks the endpoint with the Prometheus client's own parser.
const TEST_PYTHON_MODULES: &[(&str, &str)] = &[("prometheus_client", "python3-prometheus-client")];

/// Debian's Python, which Debian's Python packages are for (`python3` on PATH may be another).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// The file that pins the eBPF crate's toolchain; `vswitch/build.rs` reads it too.
const TOOLCHAIN_FILE: &str = "vswitch-ebpf/rust-toolchain.toml";

/// Environment variable that names the toolchain of the canary build (default `nightly`).
pub const CANARY_ENV: &str = "VSWITCH_CANARY_TOOLCHAIN";

/// The toolchain pinned for the eBPF build.
pub fn pinned_toolchain() -> anyhow::Result<String> {
    let path = crate::workspace_root().join(TOOLCHAIN_FILE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: toml::Table = toml::from_str(&text).with_context(|| path.display().to_string())?;
    file.get("toolchain")
        .and_then(|toolchain| toolchain.get("channel"))
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("{}: no [toolchain] channel", path.display()))
}

/// The toolchain of the canary build: the machine's floating `nightly` unless
/// [`CANARY_ENV`] names another.
pub fn canary_toolchain() -> String {
    std::env::var(CANARY_ENV)
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "nightly".to_string())
}

/// Makes sure `toolchain` is installed with rust-src, which building `core` for BPF needs.
/// A toolchain that is already installed only gains the component: a floating channel such as
/// `nightly` is not moved to a newer build.
pub fn toolchain_with_rust_src(toolchain: &str) -> anyhow::Result<()> {
    let installed = output(
        "rustup",
        &["component", "list", "--toolchain", toolchain, "--installed"],
    );
    match installed {
        Some(list) if list.lines().any(|line| line.starts_with("rust-src")) => Ok(()),
        Some(_) => {
            println!("xtask: adding rust-src to toolchain {toolchain} (the eBPF build needs it)");
            run(
                "rustup",
                &["component", "add", "rust-src", "--toolchain", toolchain],
            )
        }
        None => {
            println!(
                "xtask: installing toolchain {toolchain} with rust-src (the eBPF build needs it)"
            );
            run(
                "rustup",
                &[
                    "toolchain",
                    "install",
                    toolchain,
                    "--profile",
                    "minimal",
                    "--component",
                    "rust-src",
                ],
            )
        }
    }
}

/// The version line of `toolchain`'s rustc.
pub fn rustc_version(toolchain: &str) -> String {
    output("rustup", &["run", toolchain, "rustc", "--version"])
        .map_or_else(|| "unknown".to_string(), |line| line.trim().to_string())
}

/// Makes sure the build chain is there: protoc for the etcd client, and for the eBPF build the
/// pinned toolchain with rust-src and bpf-linker.
pub fn build_chain() -> anyhow::Result<()> {
    let missing: Vec<&str> = BUILD_DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|package| !dpkg_installed(package))
        .collect();
    apt_install(&missing)?;
    toolchain_with_rust_src(&pinned_toolchain()?)?;
    let version = output("bpf-linker", &["--version"]).unwrap_or_default();
    if !version.contains(BPF_LINKER_VERSION) {
        println!("xtask: installing bpf-linker {BPF_LINKER_VERSION} (about 2 minutes)");
        run(
            "cargo",
            &[
                "install",
                &format!("bpf-linker@{BPF_LINKER_VERSION}"),
                "--locked",
            ],
        )?;
    }
    Ok(())
}

/// Makes sure the commands the namespace tests run, and the Python modules they import, are
/// installed.
pub fn test_tools() -> anyhow::Result<()> {
    let mut missing: Vec<&str> = TEST_PACKAGES
        .iter()
        .filter(|(command, _)| which(command).is_none())
        .map(|(_, package)| *package)
        .collect();
    missing.extend(
        TEST_PYTHON_MODULES
            .iter()
            .filter(|(module, _)| {
                output(SYSTEM_PYTHON, &["-c", &format!("import {module}")]).is_none()
            })
            .map(|(_, package)| *package),
    );
    missing.extend(
        TEST_DEBIAN_PACKAGES
            .iter()
            .filter(|package| !dpkg_installed(package)),
    );
    missing.sort_unstable();
    missing.dedup();
    apt_install(&missing)
}

/// Whether dpkg has `package` installed.
fn dpkg_installed(package: &str) -> bool {
    output("dpkg-query", &["-W", "-f=${Status}", package])
        .is_some_and(|status| status == "install ok installed")
}

/// Installs Debian packages with apt-get, refreshing the package lists first.
pub fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    println!("xtask: installing {}", packages.join(" "));
    if !is_root() {
        bail!(
            "installing {} needs root: run as root or install them yourself",
            packages.join(" ")
        );
    }
    run("apt-get", &["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(packages);
    // Installing etcd-server must not leave a system etcd running (on 2379, under the tests'
    // own members): unless the machine has its own policy, no service starts meanwhile.
    let policy = std::path::Path::new(POLICY_RC_D);
    let own_policy = !policy.exists();
    if own_policy {
        write_executable(
            policy,
            "#!/bin/sh\n# vswitch xtask: no services start during its installs\nexit 101\n",
        )?;
    }
    let result = run("apt-get", &args);
    if own_policy {
        let _ = std::fs::remove_file(policy);
    }
    result
}

/// Writes `text` to `path` with mode 0755.
fn write_executable(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("making {} executable", path.display()))
}

/// Fails unless running as root: the switch loads BPF programs and creates namespaces.
pub fn require_root() -> anyhow::Result<()> {
    if is_root() {
        Ok(())
    } else {
        bail!("vswitch loads BPF programs and creates network namespaces: run this as root")
    }
}

fn is_root() -> bool {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// The path of `command` on PATH.
pub fn which(command: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(command))
            .find(|candidate| candidate.is_file())
    })
}

/// What `program` prints on stdout, if it runs and succeeds (stderr is not shown).
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a command, failing with its name if it fails.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .status()
        .with_context(|| format!("running {program}: is it installed?"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}
