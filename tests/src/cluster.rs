//! Several hosts sharing VTEPs and MACs through a real etcd: the hosts of an [`Overlay`] with
//! two containers each on VNI 100, a management network to the etcd members, and `vswitch run`
//! with `[cluster]` on every host.
//!
//! The management network is a bridge in a namespace of its own (`10.98.0.0/24`); each host
//! reaches it through `mg0` (`10.98.0.N`), and each etcd member listens on an address of that
//! bridge (`10.98.0.25M`), in that namespace, with its data in a temporary directory. Every
//! member is killed on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{
    command::{run, run_in, succeeds_in},
    names,
    netns::Netns,
    overlay::{Family, Overlay, VNI},
    switch::Switch,
};

/// The lease of every test node: a dead node's stations vanish this long after it died.
pub const LEASE_SECS: u64 = 3;

/// How long an etcd member may take to answer its health check.
const ETCD_START: Duration = Duration::from_secs(20);

/// A CA, a server certificate for the first etcd member's address and a client certificate,
/// made with `openssl` in a temporary directory that goes on drop.
#[derive(Debug)]
pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    /// Makes the files.
    fn generate(token: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{token}-tls"));
        std::fs::create_dir_all(&dir).expect("a directory for the certificates");
        let files = Self { dir };
        let path = |name: &str| files.path(name).display().to_string();
        // X.509 v3 certificates (rustls takes no other): extensions make `openssl x509` write v3.
        std::fs::write(
            files.path("server.cnf"),
            format!(
                "subjectAltName=IP:{}\nextendedKeyUsage=serverAuth\n",
                member_address(1)
            ),
        )
        .expect("writing the server's extensions");
        std::fs::write(files.path("client.cnf"), "extendedKeyUsage=clientAuth\n")
            .expect("writing the client's extensions");
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=vswitch-test-ca",
                "-keyout",
                &path("ca-key.pem"),
                "-out",
                &path("ca.pem"),
            ],
        );
        for (name, subject) in [("server", "/CN=etcd"), ("client", "/CN=vswitch")] {
            let (key, csr, cert) = (
                path(&format!("{name}-key.pem")),
                path(&format!("{name}.csr")),
                path(&format!("{name}.pem")),
            );
            run(
                "openssl",
                &[
                    "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", &key,
                    "-out", &csr,
                ],
            );
            let sign = [
                "x509".to_string(),
                "-req".to_string(),
                "-in".to_string(),
                csr,
                "-CA".to_string(),
                path("ca.pem"),
                "-CAkey".to_string(),
                path("ca-key.pem"),
                "-CAcreateserial".to_string(),
                "-days".to_string(),
                "2".to_string(),
                "-out".to_string(),
                cert,
                "-extfile".to_string(),
                path(&format!("{name}.cnf")),
            ];
            let sign: Vec<&str> = sign.iter().map(String::as_str).collect();
            run("openssl", &sign);
        }
        files
    }

    /// The path of one of the files (`ca.pem`, `server.pem`, `client-key.pem`...).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One etcd member, killed (and its data removed) on drop.
#[derive(Debug)]
pub struct Etcd {
    child: Option<Child>,
    netns: String,
    args: Vec<String>,
    data: PathBuf,
    address: String,
    /// Client TLS: `--cacert`, `--cert` and `--key` for the health check.
    tls: Vec<String>,
}

impl Etcd {
    /// Starts member `index` (from 1) of a cluster of `size` members in `netns`, serving
    /// clients over TLS with `tls`, and waits until it answers when `wait` (a member of a new
    /// multi-member cluster answers only once a majority runs).
    fn start(
        netns: &Netns,
        token: &str,
        (index, size): (usize, usize),
        tls: Option<&TlsFiles>,
        wait: bool,
    ) -> Self {
        let address = member_address(index);
        let data = std::env::temp_dir().join(format!("{token}-etcd{index}"));
        let initial: Vec<String> = (1..=size)
            .map(|member| format!("m{member}=http://{}:2380", member_address(member)))
            .collect();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut args = vec![
            format!("--name=m{index}"),
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls={scheme}://{address}:2379"),
            format!("--advertise-client-urls={scheme}://{address}:2379"),
            format!("--listen-peer-urls=http://{address}:2380"),
            format!("--initial-advertise-peer-urls=http://{address}:2380"),
            format!("--initial-cluster={}", initial.join(",")),
            format!("--initial-cluster-token={token}"),
            "--initial-cluster-state=new".to_string(),
        ];
        let mut client = Vec::new();
        if let Some(tls) = tls {
            let path = |name: &str| tls.path(name).display().to_string();
            args.extend([
                format!("--cert-file={}", path("server.pem")),
                format!("--key-file={}", path("server-key.pem")),
                format!("--trusted-ca-file={}", path("ca.pem")),
                "--client-cert-auth".to_string(),
            ]);
            client = vec![
                "--cacert".to_string(),
                path("ca.pem"),
                "--cert".to_string(),
                path("client.pem"),
                "--key".to_string(),
                path("client-key.pem"),
            ];
        }
        let mut etcd = Self {
            child: None,
            netns: netns.name().to_string(),
            args,
            data,
            address,
            tls: client,
        };
        etcd.launch(wait);
        etcd
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_empty() { "http" } else { "https" };
        format!("{scheme}://{}:2379", self.address)
    }

    /// `curl` in the member's namespace with the client's TLS files, if any.
    fn curl(&self, args: &[&str]) -> Vec<String> {
        let mut full: Vec<String> = ["curl", "-sf", "-m", "2"].map(String::from).to_vec();
        full.extend(self.tls.iter().cloned());
        full.extend(args.iter().map(|arg| (*arg).to_string()));
        full
    }

    fn launch(&mut self, wait: bool) {
        let log = std::fs::File::create(self.data.with_extension("log")).expect("an etcd log");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns, "etcd"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting etcd (Debian's etcd-server)");
        self.child = Some(child);
        if wait {
            self.wait_healthy();
        }
    }

    /// Waits until the member answers its health check.
    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + ETCD_START;
        let url = format!("{}/health", self.endpoint());
        let curl = self.curl(&[&url]);
        let curl: Vec<&str> = curl.iter().map(String::as_str).collect();
        while !succeeds_in(&self.netns, &curl) {
            assert!(
                Instant::now() < deadline,
                "etcd at {} did not come up; see {}",
                self.endpoint(),
                self.data.with_extension("log").display()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the member (SIGKILL); its data stays for [`Etcd::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the member again on its data, and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "etcd still runs");
        self.launch(true);
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(self.data.with_extension("log"));
    }
}

/// Standard base64 with padding, as etcd's JSON gateway takes keys and values.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (index, byte)| {
            word | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(char::from(
                    ALPHABET[(word >> (18 - 6 * index) & 63) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The address of etcd member `index` on the management network.
fn member_address(index: usize) -> String {
    format!("10.98.0.{}", 250 + index)
}

/// Hosts with their switches in a cluster. Dropping it stops the switches first (they revoke
/// their leases while etcd still runs), then etcd, then the namespaces.
#[derive(Debug)]
pub struct ClusterLab {
    /// The hosts, their underlay, and their first container (`endpoint`).
    pub overlay: Overlay,
    /// The second container of each host, host `n` at index `n - 1`.
    pub second: Vec<Netns>,
    /// Containers added while the test runs.
    pub added: Vec<Netns>,
    /// The etcd members.
    pub etcd: Vec<Etcd>,
    /// The certificates, when etcd serves its clients over TLS.
    pub tls: Option<TlsFiles>,
    /// The management network: a bridge `br0` with the etcd members' addresses.
    pub management: Netns,
    /// The tag prefix of its namespaces.
    prefix: &'static str,
}

/// How to build a [`ClusterLab`]: the cluster suite and the benchmark build theirs with it.
#[derive(Clone, Debug)]
pub struct ClusterLabBuilder {
    hosts: usize,
    members: usize,
    tls: bool,
    prefix: &'static str,
}

impl ClusterLabBuilder {
    /// A cluster of `members` etcd members (one by default).
    pub fn members(mut self, members: usize) -> Self {
        self.members = members;
        self
    }

    /// One etcd member that serves clients over TLS and asks them for a certificate; the
    /// hosts' `[cluster]` has `ca`, `cert` and `key`.
    pub fn tls(mut self) -> Self {
        self.members = 1;
        self.tls = true;
        self
    }

    /// Namespace tags that start with `prefix` (the suite's `cl` by default).
    pub fn prefix(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }

    /// Builds the networks, starts etcd and then the switches.
    pub fn build(self) -> ClusterLab {
        let Self {
            hosts,
            members,
            tls,
            prefix,
        } = self;
        let overlay = Overlay::with_prefix(Family::V4, hosts, prefix);
        let management = Netns::new(&names::unique(&format!("{prefix}mg")));
        run_in(
            management.name(),
            &["ip", "link", "add", "br0", "type", "bridge"],
        );
        run_in(management.name(), &["ip", "link", "set", "br0", "up"]);
        for member in 1..=members {
            let cidr = format!("{}/24", member_address(member));
            run_in(
                management.name(),
                &["ip", "addr", "add", &cidr, "dev", "br0"],
            );
        }
        for host in &overlay.hosts {
            let port = format!("m{}", host.n);
            host.ns.veth_to("mg0", &management, &port);
            run_in(
                management.name(),
                &["ip", "link", "set", &port, "master", "br0"],
            );
            host.ns.address("mg0", &format!("10.98.0.{}/24", host.n));
        }
        let token = names::unique(&format!("{prefix}e"));
        let tls = tls.then(|| TlsFiles::generate(&token));
        let etcd: Vec<Etcd> = (1..=members)
            .map(|member| {
                let wait = members == 1;
                Etcd::start(&management, &token, (member, members), tls.as_ref(), wait)
            })
            .collect();
        for member in &etcd {
            member.wait_healthy();
        }
        let second = (1..=hosts)
            .map(|n| Netns::new(&names::unique(&format!("{prefix}c{n}"))))
            .collect();
        let mut lab = ClusterLab {
            overlay,
            second,
            added: Vec::new(),
            etcd,
            tls,
            management,
            prefix,
        };
        for n in 1..=hosts {
            let config = lab.config(n);
            let host = &mut lab.overlay.hosts[n - 1];
            host.switch = Some(Switch::start(&host.ns, &config));
        }
        lab
    }
}

impl ClusterLab {
    /// `hosts` hosts, to build with one etcd member, without TLS, the suite's names.
    pub fn builder(hosts: usize) -> ClusterLabBuilder {
        ClusterLabBuilder {
            hosts,
            members: 1,
            tls: false,
            prefix: "cl",
        }
    }

    /// `hosts` hosts and a cluster of `members` etcd members, the switches running.
    pub fn new(hosts: usize, members: usize) -> Self {
        Self::builder(hosts).members(members).build()
    }

    /// `hosts` hosts and one etcd member over TLS (see [`ClusterLabBuilder::tls`]).
    pub fn with_tls(hosts: usize) -> Self {
        Self::builder(hosts).tls().build()
    }

    /// Host `n`'s config: its two containers in VLAN 10, carried by VNI 100 with no configured
    /// remotes and no learning over the tunnel (what the other hosts have comes from etcd
    /// only), and `[cluster]`.
    pub fn config(&self, n: usize) -> String {
        let endpoints: Vec<String> = self
            .etcd
            .iter()
            .map(|member| format!("\"{}\"", member.endpoint()))
            .collect();
        let host = self.overlay.host(n);
        format!(
            "[[port]]\nname = \"vp{n}a\"\nnetns = \"{first}\"\naddress = [\"{a}/24\"]\nvlan = 10\n\n\
             [[port]]\nname = \"vp{n}b\"\nnetns = \"{second}\"\naddress = [\"{b}/24\"]\nvlan = 10\n\n\
             [[vxlan]]\nvni = {VNI}\nvlan = 10\nlocal = \"{local}\"\nunderlay = \"ul0\"\n\
             learning = false\n\n\
             [cluster]\netcd = [{endpoints}]\nnode = \"host{n}\"\nlease_secs = {LEASE_SECS}\n{tls}",
            first = host.endpoint.name(),
            second = self.second[n - 1].name(),
            a = self.address(n, 0),
            b = self.address(n, 1),
            local = Family::V4.vtep(n),
            endpoints = endpoints.join(", "),
            tls = self.tls.as_ref().map_or(String::new(), |tls| {
                format!(
                    "ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                    tls.path("ca.pem").display(),
                    tls.path("client.pem").display(),
                    tls.path("client-key.pem").display()
                )
            }),
        )
    }

    /// Adds a third container to host `n` with `vswitch port add` (address `192.168.10.2N`,
    /// VLAN 10), and returns its namespace, which the lab removes if the switch did not.
    pub fn add_container(&mut self, n: usize) -> String {
        let address = format!("192.168.10.{}/24", 20 + n);
        self.add_port(n, &format!("vp{n}c"), &["--address", &address])
    }

    /// Adds port `port` in VLAN 10 to host `n` with `vswitch port add`, its peer in a new
    /// namespace, with the further options `extra`; returns the namespace, which the lab
    /// removes if the switch did not.
    pub fn add_port(&mut self, n: usize, port: &str, extra: &[&str]) -> String {
        let netns = names::unique(&format!("{}n{n}", self.prefix));
        self.added.push(Netns::owning(&netns));
        let mut args = vec!["port", "add", port, "--netns", &netns, "--vlan", "10"];
        args.extend(extra);
        let add = self.switch(n).vswitch(&args);
        assert!(add.status.success(), "{add:?}");
        netns
    }

    /// The MAC address of the container added with [`ClusterLab::add_container`] in `netns`.
    pub fn added_mac(&self, netns: &str) -> String {
        self.added
            .iter()
            .find(|added| added.name() == netns)
            .expect("an added container")
            .mac("eth0")
    }

    /// The address of container `index` (0 or 1) of host `n`.
    pub fn address(&self, n: usize, index: usize) -> String {
        format!("192.168.10.{}", n + 10 * index)
    }

    /// The namespace of container `index` (0 or 1) of host `n`.
    pub fn container(&self, n: usize, index: usize) -> &Netns {
        match index {
            0 => &self.overlay.host(n).endpoint,
            _ => &self.second[n - 1],
        }
    }

    /// The MAC address of container `index` of host `n`.
    pub fn mac(&self, n: usize, index: usize) -> String {
        self.container(n, index).mac("eth0")
    }

    /// The switch of host `n`.
    pub fn switch(&self, n: usize) -> &Switch {
        self.overlay.host(n).switch()
    }

    /// The switch of host `n`, to kill or restart it.
    pub fn switch_mut(&mut self, n: usize) -> &mut Switch {
        self.overlay.hosts[n - 1]
            .switch
            .as_mut()
            .expect("a vswitch host")
    }

    /// The remote VTEP that host `n`'s FDB puts `mac` behind, if it has a remote entry for it.
    pub fn remote_of(&self, n: usize, mac: &str) -> Option<String> {
        self.switch(n)
            .rows(&["fdb", "show"])
            .into_iter()
            .find(|entry| entry["mac"] == mac)
            .and_then(|entry| entry["remote"].as_str().map(str::to_string))
    }

    /// Writes `value` under `key` straight into etcd (through its JSON gateway), as a foreign
    /// or broken writer would.
    pub fn put_raw(&self, key: &str, value: &str) {
        let body = format!(
            "{{\"key\":\"{}\",\"value\":\"{}\"}}",
            base64(key.as_bytes()),
            base64(value.as_bytes())
        );
        let url = format!("{}/v3/kv/put", self.etcd[0].endpoint());
        let curl = self.etcd[0].curl(&["-X", "POST", &url, "-d", &body]);
        let curl: Vec<&str> = curl.iter().map(String::as_str).collect();
        run_in(self.management.name(), &curl);
    }

    /// Waits up to `within` until `condition` holds; how long it took, or `None`.
    pub fn wait_for(within: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if condition() {
                return Some(started.elapsed());
            }
            if started.elapsed() > within {
                return None;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}
