//! Kernel devices the host kernel lacks, created over rtnetlink (issue 4).
//!
//! These tests run only in the Debian 6.1 guest, through
//! `cargo xtask test --vm`; elsewhere they panic saying so. Each one works
//! in a fresh network namespace (`vmt-<pid>-<test>`) that it removes.

use std::{
    fs,
    path::PathBuf,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use futures::TryStreamExt as _;
use nix::{
    mount::{MntFlags, MsFlags, mount, umount2},
    sched::{CloneFlags, unshare},
};
use rtnetlink::{
    Handle, LinkBond, LinkDummy, LinkMessageBuilder, LinkUnspec, LinkVlan, new_connection,
    packet_core::Nla as _,
    packet_route::link::{
        InfoData, InfoIpVlan, InfoKind, InfoVlan, IpVlanMode, LinkAttribute, LinkInfo, LinkMessage,
    },
};

/// The kernel series these tests are meant for: the guest's.
const GUEST_SERIES: &str = "6.1.";

/// `IFLA_PARENT_DEV_NAME`: the name of a link's parent device.
const IFLA_PARENT_DEV_NAME: u16 = 56;

/// `IFLA_PARENT_DEV_BUS_NAME`: the bus of a link's parent device.
const IFLA_PARENT_DEV_BUS_NAME: u16 = 57;

/// Where named network namespaces live (as with `ip netns`).
const NETNS_DIR: &str = "/run/netns";

/// A named network namespace, held by the thread that created it; removed
/// on drop.
struct Netns {
    /// Its bind mount under [`NETNS_DIR`].
    path: PathBuf,
}

impl Netns {
    /// Moves the calling thread into a new network namespace and names it
    /// `vmt-<pid>-<name>`.
    fn enter(name: &str) -> Self {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        fs::create_dir_all(NETNS_DIR).expect("creating /run/netns");
        let path = PathBuf::from(format!("{NETNS_DIR}/vmt-{}-{name}", std::process::id()));
        fs::write(&path, "").expect("creating the namespace's mount point");
        let netns = Self { path };
        mount(
            Some("/proc/thread-self/ns/net"),
            &netns.path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind-mounting the network namespace");
        netns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Unmounting fails when the mount was never made; removing still
        // has to happen.
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        if let Err(error) = fs::remove_file(&self.path) {
            eprintln!("removing {}: {error}", self.path.display());
        }
    }
}

/// A netdevsim device, deleted on drop.
struct Netdevsim {
    /// Its id on the netdevsim bus.
    id: u32,
}

impl Netdevsim {
    /// Creates netdevsim device `id` with one port in the calling thread's
    /// network namespace, loading the module first.
    fn new(id: u32) -> Self {
        let status = Command::new("modprobe")
            .arg("netdevsim")
            .status()
            .expect("running modprobe");
        assert!(status.success(), "modprobe netdevsim: {status}");
        fs::write("/sys/bus/netdevsim/new_device", format!("{id} 1"))
            .expect("writing /sys/bus/netdevsim/new_device");
        Self { id }
    }
}

impl Drop for Netdevsim {
    fn drop(&mut self) {
        if let Err(error) = fs::write("/sys/bus/netdevsim/del_device", self.id.to_string()) {
            eprintln!("deleting netdevsim{}: {error}", self.id);
        }
    }
}

/// Runs `body` with an rtnetlink handle in a fresh network namespace
/// named after `name`, on a thread of its own (the namespace is the
/// thread's), after checking that this is the guest's kernel.
fn in_netns<F, Fut>(name: &'static str, body: F)
where
    F: FnOnce(Handle) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").expect("reading osrelease");
    assert!(
        release.starts_with(GUEST_SERIES),
        "vm_devices runs only in the {GUEST_SERIES}x guest kernel (`cargo xtask test --vm`), \
         not on kernel {}",
        release.trim()
    );
    on_thread(move || {
        let _netns = Netns::enter(name);
        with_rtnetlink(body);
    });
}

/// Runs `body` on a thread of its own and joins it, passing its panic on.
fn on_thread(body: impl FnOnce() + Send + 'static) {
    if let Err(panic) = thread::spawn(body).join() {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `body` with an rtnetlink handle in the calling thread's network namespace.
fn with_rtnetlink<F, Fut>(body: F)
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building a tokio runtime");
    runtime.block_on(async {
        let (connection, handle, _) = new_connection().expect("opening rtnetlink");
        tokio::spawn(connection);
        body(handle).await;
    });
}

/// Adds the link `message` describes.
async fn add(handle: &Handle, message: LinkMessage) {
    handle
        .link()
        .add(message)
        .execute()
        .await
        .expect("adding a link");
}

/// The link named `name`, read back over rtnetlink.
async fn link(handle: &Handle, name: &str) -> LinkMessage {
    handle
        .link()
        .get()
        .match_name(name.to_owned())
        .execute()
        .try_next()
        .await
        .unwrap_or_else(|error| panic!("getting link {name}: {error}"))
        .unwrap_or_else(|| panic!("no link {name}"))
}

/// The link's `IFLA_INFO_KIND` and `IFLA_INFO_DATA`, if it has them.
fn info(link: &LinkMessage) -> (Option<&InfoKind>, Option<&InfoData>) {
    let infos = link
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::LinkInfo(infos) => Some(infos.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    let kind = infos.iter().find_map(|info| match info {
        LinkInfo::Kind(kind) => Some(kind),
        _ => None,
    });
    let data = infos.iter().find_map(|info| match info {
        LinkInfo::Data(data) => Some(data),
        _ => None,
    });
    (kind, data)
}

/// The string value of the link attribute `kind`, for those that
/// netlink-packet-route leaves unparsed.
fn string_attribute(link: &LinkMessage, kind: u16) -> Option<String> {
    link.attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::Other(nla) if nla.kind() == kind => {
                let mut value = vec![0; nla.value_len()];
                nla.emit_value(&mut value);
                let value = String::from_utf8_lossy(&value);
                Some(value.trim_end_matches('\0').to_owned())
            }
            _ => None,
        })
}

/// Adds a dummy link named `name` and returns its index.
async fn add_dummy(handle: &Handle, name: &str) -> u32 {
    add(handle, LinkDummy::new(name).build()).await;
    let dummy = link(handle, name).await;
    assert_eq!(info(&dummy).0, Some(&InfoKind::Dummy));
    dummy.header.index
}

#[test]
fn dummy() {
    in_netns("dummy", |handle| async move {
        add_dummy(&handle, "dummy0").await;
    });
}

#[test]
fn vlan_on_dummy() {
    in_netns("vlan", |handle| async move {
        let base = add_dummy(&handle, "dummy0").await;
        add(&handle, LinkVlan::new("dummy0.10", base, 10).build()).await;
        let vlan = link(&handle, "dummy0.10").await;
        let (kind, data) = info(&vlan);
        assert_eq!(kind, Some(&InfoKind::Vlan));
        let Some(InfoData::Vlan(data)) = data else {
            panic!("no VLAN info data: {vlan:?}");
        };
        assert!(data.contains(&InfoVlan::Id(10)), "{data:?}");
        assert!(
            vlan.attributes.contains(&LinkAttribute::Link(base)),
            "dummy0.10 is not on dummy0: {vlan:?}"
        );
    });
}

#[test]
fn ipvlan_on_dummy() {
    in_netns("ipvlan", |handle| async move {
        let base = add_dummy(&handle, "dummy0").await;
        let ipvlan = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::IpVlan)
            .name("ipvlan0".to_owned())
            .link(base)
            .set_info_data(InfoData::IpVlan(vec![InfoIpVlan::Mode(IpVlanMode::L2)]))
            .build();
        add(&handle, ipvlan).await;
        let ipvlan = link(&handle, "ipvlan0").await;
        let (kind, data) = info(&ipvlan);
        assert_eq!(kind, Some(&InfoKind::IpVlan));
        let Some(InfoData::IpVlan(data)) = data else {
            panic!("no ipvlan info data: {ipvlan:?}");
        };
        assert!(data.contains(&InfoIpVlan::Mode(IpVlanMode::L2)), "{data:?}");
    });
}

#[test]
fn bond() {
    in_netns("bond", |handle| async move {
        add(&handle, LinkBond::new("bond0").build()).await;
        assert_eq!(info(&link(&handle, "bond0").await).0, Some(&InfoKind::Bond));
    });
}

#[test]
fn netdevsim() {
    in_netns("netdevsim", |handle| async move {
        let device = Netdevsim::new(std::process::id());
        // The port's netdev appears in this namespace (the writer's).
        let deadline = Instant::now() + Duration::from_secs(10);
        let parent = format!("netdevsim{}", device.id);
        let port = loop {
            let links: Vec<LinkMessage> = handle
                .link()
                .get()
                .execute()
                .try_collect()
                .await
                .expect("listing links");
            let port = links.into_iter().find(|link| {
                string_attribute(link, IFLA_PARENT_DEV_NAME).as_deref() == Some(&parent)
            });
            if let Some(port) = port {
                break port;
            }
            assert!(Instant::now() < deadline, "no netdevsim port appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            string_attribute(&port, IFLA_PARENT_DEV_BUS_NAME).as_deref(),
            Some("netdevsim"),
            "{port:?}"
        );
        // netdevsim names its ports `p<index>`.
        assert!(
            port.attributes.iter().any(|attribute| matches!(
                attribute,
                LinkAttribute::PhysPortName(port_name) if port_name.starts_with('p')
            )),
            "the port has no port name: {port:?}"
        );
        handle
            .link()
            .set(LinkUnspec::new_with_index(port.header.index).up().build())
            .execute()
            .await
            .expect("setting the netdevsim port up");
    });
}

#[test]
fn switch_ports_on_dummy_and_vlan_devices() {
    let netns = tests::netns::Netns::new(&format!("vmx{}ports", std::process::id()));
    let path = format!("/run/netns/{}", netns.name());
    // Create the devices over rtnetlink from a thread inside the namespace.
    on_thread(move || {
        let file = fs::File::open(&path).expect("opening the namespace");
        nix::sched::setns(file, CloneFlags::CLONE_NEWNET).expect("entering the namespace");
        with_rtnetlink(|handle| async move {
            let base = add_dummy(&handle, "vmxd0").await;
            add(&handle, LinkVlan::new("vmxd0.10", base, 10).build()).await;
        });
    });
    let config = "[[port]]\nname = \"vmxd0\"\nexisting = true\n\
                  [[port]]\nname = \"vmxd0.10\"\nexisting = true\nhook = \"tc\"\n";
    let switch = tests::switch::Switch::start(&netns, config);
    let ports = switch.json(&["port", "show"]);
    let datapaths: Vec<(&str, &str)> = ports
        .as_array()
        .expect("an array")
        .iter()
        .map(|port| {
            (
                port["name"].as_str().expect("a name"),
                port["datapath"].as_str().expect("a datapath"),
            )
        })
        .collect();
    // A dummy has no driver XDP: the XDP program runs in the generic path.
    assert_eq!(datapaths, [("vmxd0", "generic"), ("vmxd0.10", "tc")]);
}
