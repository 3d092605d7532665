//! Loading the programs and attaching them to ports.

use std::path::Path;

use aya::{
    Ebpf, EbpfLoader,
    maps::ProgramArray,
    programs::{
        ProgramError, ProgramFd, SchedClassifier, TcAttachType, Xdp, XdpMode,
        links::{FdLink, PinnedLink},
        tc::{self, SchedClassifierLink, SchedClassifierLinkId},
        xdp::{XdpLink, XdpLinkId},
    },
    util::KernelVersion,
};
use vswitch_common::{map_names, program_names, tc_stages};

use super::{DatapathError, OBJECT};
use crate::netlink::{NetlinkError, netns};

/// Kernels from this version attach tc programs as TCX links and need no clsact qdisc.
const TCX_SINCE: KernelVersion = KernelVersion::new(6, 6, 0);

/// Adds a clsact qdisc to `ifname` unless it has one; whether it had one.
pub fn ensure_clsact(ifname: &str) -> Result<bool, tc::TcError> {
    match tc::qdisc_add_clsact(ifname) {
        Ok(()) => Ok(false),
        Err(tc::TcError::NetlinkError(error)) if error.raw_os_error() == Some(libc::EEXIST) => {
            Ok(true)
        }
        Err(error) => Err(error),
    }
}

/// A program attached to one interface, to detach it again.
#[derive(Debug)]
pub enum Attachment {
    /// A `bpf_link` pinned under the instance's directory: it stays attached when the agent
    /// exits (forwarding goes on), and removing the pin detaches it.
    Pinned(PinnedLink),
    /// The TCX (or clsact) ingress program.
    Tc(SchedClassifierLinkId),
    /// The decapsulation program on a VXLAN underlay (clsact, before Linux 6.6).
    Underlay(SchedClassifierLinkId),
    /// The XDP ingress program.
    Xdp(XdpLinkId),
    /// The pass-through program on a veth peer.
    Pass(XdpLinkId),
    /// A dispatch classifier (clsact, before Linux 6.6).
    Dispatch(DispatchTc, SchedClassifierLinkId),
    /// The dispatch XDP program on a parent.
    DispatchXdp(XdpLinkId),
}

/// The two dispatch classifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatchTc {
    /// On a parent: group frames to the children.
    Parent,
    /// On a child's interface: its frames to a sibling or the parent.
    Child,
}

impl DispatchTc {
    /// The program's name.
    pub const fn program(self) -> &'static str {
        match self {
            Self::Parent => program_names::DISPATCH_PARENT,
            Self::Child => program_names::DISPATCH_CHILD,
        }
    }
}

/// The loaded object: its programs and the links that attach them.
///
/// Dropping it detaches every program.
#[derive(Debug)]
pub struct Programs {
    ebpf: Ebpf,
}

impl Programs {
    /// Loads the object and its programs. `log_level` gates aya-log in the datapath: 0 is off,
    /// and the verifier then removes the logging code from the fast path.
    pub fn load(log_level: u8) -> Result<Self, DatapathError> {
        Self::load_with(EbpfLoader::new().override_global(aya_log::LEVEL, &log_level, true))
    }

    /// Loads the object like [`Programs::load`], with its maps pinned under `pins`: maps
    /// already pinned there (by an earlier agent of this instance) are reused after
    /// [`pins::check_compatible`](super::pins::check_compatible) accepts them, the others are
    /// created and pinned.
    pub fn load_pinned(log_level: u8, pins: &Path) -> Result<Self, DatapathError> {
        super::pins::check_compatible(pins)?;
        let mut loader = EbpfLoader::new();
        loader.override_global(aya_log::LEVEL, &log_level, true);
        let paths: Vec<(&str, std::path::PathBuf)> = super::PINNED_MAPS
            .iter()
            .map(|name| (*name, pins.join(name)))
            .collect();
        for (name, path) in &paths {
            loader.map_pin_path(name, path.as_path());
        }
        Self::load_with(&mut loader)
    }

    fn load_with(loader: &mut EbpfLoader<'_>) -> Result<Self, DatapathError> {
        let ebpf = loader.load(OBJECT)?;
        let mut programs = Self { ebpf };
        for name in [
            program_names::TC_INGRESS,
            program_names::TC_SUPPRESS,
            program_names::TC_UNDERLAY,
            program_names::DISPATCH_PARENT,
            program_names::DISPATCH_CHILD,
        ] {
            programs
                .program::<SchedClassifier>(name)?
                .load()
                .map_err(DatapathError::program(format!("loading {name}")))?;
        }
        for name in [
            program_names::XDP_INGRESS,
            program_names::XDP_EGRESS,
            program_names::XDP_PASS,
            program_names::DISPATCH_XDP,
        ] {
            programs
                .program::<Xdp>(name)?
                .load()
                .map_err(DatapathError::program(format!("loading {name}")))?;
        }
        programs.fill_tc_stages()?;
        Ok(programs)
    }

    /// Puts the stages that `vswitch_tc` tail-calls into `TC_STAGES`, before anything is
    /// attached. The array belongs to this object: its entries go with the last descriptor of
    /// it, so the programs of an agent that died fall back to switching without suppression
    /// until the next agent takes their links over.
    fn fill_tc_stages(&mut self) -> Result<(), DatapathError> {
        let mut fds = Vec::new();
        for (slot, name) in [
            (tc_stages::SUPPRESS, program_names::TC_SUPPRESS),
            (tc_stages::SWITCH, program_names::TC_INGRESS),
        ] {
            let program = self.program::<SchedClassifier>(name)?;
            let fd = program
                .fd()
                .map_err(DatapathError::program(name))?
                .try_clone()
                .map_err(|error| DatapathError::program(name)(error.into()))?;
            fds.push((slot, fd));
        }
        let map = self
            .ebpf
            .map_mut(map_names::TC_STAGES)
            .ok_or(DatapathError::Missing(map_names::TC_STAGES))?;
        let mut stages =
            ProgramArray::try_from(map).map_err(DatapathError::map(map_names::TC_STAGES))?;
        for (slot, fd) in &fds {
            stages
                .set(*slot, fd, 0)
                .map_err(DatapathError::map(map_names::TC_STAGES))?;
        }
        Ok(())
    }

    /// The object, for taking its maps and starting its logger.
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// The devmap egress program, which every `TX_PORTS` entry runs.
    pub fn egress_fd(&self) -> Result<&ProgramFd, DatapathError> {
        let name = program_names::XDP_EGRESS;
        let program: &Xdp = self
            .ebpf
            .program(name)
            .ok_or(DatapathError::Missing(name))?
            .try_into()
            .map_err(DatapathError::program(name))?;
        program.fd().map_err(DatapathError::program(name))
    }

    /// Detaches what `attachment` attached (a pinned link: removes its pin, which detaches
    /// it). An interface that is already gone is no error.
    pub fn detach(&mut self, attachment: Attachment) -> Result<(), DatapathError> {
        let result = match attachment {
            Attachment::Pinned(link) => {
                return link.unpin().map(drop).map_err(|error| {
                    DatapathError::program("unpinning a link")(ProgramError::IOError(error))
                });
            }
            Attachment::Tc(id) => self
                .program::<SchedClassifier>(program_names::TC_INGRESS)?
                .detach(id),
            Attachment::Underlay(id) => self
                .program::<SchedClassifier>(program_names::TC_UNDERLAY)?
                .detach(id),
            Attachment::Xdp(id) => self.program::<Xdp>(program_names::XDP_INGRESS)?.detach(id),
            Attachment::Pass(id) => self.program::<Xdp>(program_names::XDP_PASS)?.detach(id),
            Attachment::Dispatch(hook, id) => {
                self.program::<SchedClassifier>(hook.program())?.detach(id)
            }
            Attachment::DispatchXdp(id) => {
                self.program::<Xdp>(program_names::DISPATCH_XDP)?.detach(id)
            }
        };
        result.map_err(DatapathError::program("detaching a program"))
    }

    /// Attaches the TCX ingress program to the interface called `ifname`, its link pinned at
    /// `pin`. A link already pinned there (left by an earlier agent) is taken over instead: its
    /// program is replaced atomically, so frames never meet a detached interface.
    ///
    /// Before Linux 6.6 there are no TCX links: the program is attached through a clsact
    /// qdisc, unpinned.
    pub fn attach_tc(&mut self, ifname: &str, pin: &Path) -> Result<Attachment, DatapathError> {
        self.attach_classifier(program_names::TC_INGRESS, ifname, pin, Attachment::Tc)
    }

    /// Attaches the VXLAN decapsulation program to the underlay called `ifname`, pinned at `pin`
    /// like [`Programs::attach_tc`].
    pub fn attach_underlay(
        &mut self,
        ifname: &str,
        pin: &Path,
    ) -> Result<Attachment, DatapathError> {
        self.attach_classifier(
            program_names::TC_UNDERLAY,
            ifname,
            pin,
            Attachment::Underlay,
        )
    }

    /// Attaches the dispatch classifier `hook` to the interface called `ifname`, pinned at
    /// `pin` like [`Programs::attach_tc`].
    pub fn attach_dispatch_tc(
        &mut self,
        hook: DispatchTc,
        ifname: &str,
        pin: &Path,
    ) -> Result<Attachment, DatapathError> {
        let unpinned: fn(SchedClassifierLinkId) -> Attachment = match hook {
            DispatchTc::Parent => |id| Attachment::Dispatch(DispatchTc::Parent, id),
            DispatchTc::Child => |id| Attachment::Dispatch(DispatchTc::Child, id),
        };
        self.attach_classifier(hook.program(), ifname, pin, unpinned)
    }

    /// Attaches the dispatch XDP program to the parent with `ifindex`, pinned at `pin` like
    /// [`Programs::attach_xdp`].
    pub fn attach_dispatch_xdp(
        &mut self,
        ifindex: u32,
        pin: &Path,
    ) -> Result<Attachment, DatapathError> {
        let what = format!(
            "attaching {} to interface {ifindex}",
            program_names::DISPATCH_XDP
        );
        let program = self.program::<Xdp>(program_names::DISPATCH_XDP)?;
        attach_xdp_pinned(program, ifindex, pin, &what, Attachment::DispatchXdp)
    }

    fn attach_classifier(
        &mut self,
        name: &'static str,
        ifname: &str,
        pin: &Path,
        unpinned: fn(SchedClassifierLinkId) -> Attachment,
    ) -> Result<Attachment, DatapathError> {
        let what = format!("attaching {name} to {ifname}");
        let tcx = KernelVersion::current().is_ok_and(|version| version >= TCX_SINCE);
        let program = self.program::<SchedClassifier>(name)?;
        if tcx && let Some(link) = adopt(pin, &what)? {
            let link = SchedClassifierLink::try_from(link).map_err(link_error(&what))?;
            match program.attach_to_link(link) {
                Ok(id) => {
                    drop(
                        program
                            .take_link(id)
                            .map_err(DatapathError::program(&what))?,
                    );
                    return repin(pin, &what);
                }
                // The link outlived its interface (ENOLINK): drop the pin, attach afresh.
                Err(_) => unpin_stale(pin, &what)?,
            }
        }
        if !tcx {
            let existed = ensure_clsact(ifname)
                .map_err(|error| DatapathError::program(&what)(error.into()))?;
            if existed {
                // A clsact filter outlives the agent that attached it (it is no link):
                // replace what a previous agent left, rather than run behind it.
                let _ = tc::qdisc_detach_program(ifname, TcAttachType::Ingress, name);
            }
        }
        let id = program
            .attach(ifname, TcAttachType::Ingress)
            .map_err(DatapathError::program(&what))?;
        if !tcx {
            return Ok(unpinned(id));
        }
        let link = program
            .take_link(id)
            .map_err(DatapathError::program(&what))?;
        let link = FdLink::try_from(link).map_err(link_error(&what))?;
        pin_link(link, pin, &what)
    }

    /// Attaches the XDP ingress program to the interface with `ifindex`, its link pinned at
    /// `pin`, or takes over a link pinned there (see [`Programs::attach_tc`]).
    pub fn attach_xdp(&mut self, ifindex: u32, pin: &Path) -> Result<Attachment, DatapathError> {
        let what = format!(
            "attaching {} to interface {ifindex}",
            program_names::XDP_INGRESS
        );
        let program = self.program::<Xdp>(program_names::XDP_INGRESS)?;
        attach_xdp_pinned(program, ifindex, pin, &what, Attachment::Xdp)
    }

    /// Attaches the pass-through XDP program to interface `ifindex` in namespace `netns_name`,
    /// so that native XDP redirects into its veth peer are delivered; pinned at `pin` like
    /// [`Programs::attach_xdp`].
    pub fn attach_pass_in(
        &mut self,
        netns_name: &str,
        ifindex: u32,
        pin: &Path,
    ) -> Result<Attachment, DatapathError> {
        let what = format!(
            "attaching {} to interface {ifindex} in netns {netns_name}",
            program_names::XDP_PASS
        );
        let program = self.program::<Xdp>(program_names::XDP_PASS)?;
        netns::run_in(netns_name, || {
            attach_xdp_pinned(program, ifindex, pin, &what, Attachment::Pass)
        })
        .map_err(|error: NetlinkError| DatapathError::Program {
            what: what.clone(),
            source: ProgramError::IOError(std::io::Error::other(error.to_string())),
        })?
    }

    fn program<'a, P>(&'a mut self, name: &'static str) -> Result<&'a mut P, DatapathError>
    where
        &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
    {
        self.ebpf
            .program_mut(name)
            .ok_or(DatapathError::Missing(name))?
            .try_into()
            .map_err(DatapathError::program(name))
    }
}

/// Attaches `program` to `ifindex` with its link pinned at `pin`, or takes over the link pinned
/// there. Where the kernel has no XDP links (netlink attachment), the attachment is unpinned.
fn attach_xdp_pinned(
    program: &mut Xdp,
    ifindex: u32,
    pin: &Path,
    what: &str,
    unpinned: fn(XdpLinkId) -> Attachment,
) -> Result<Attachment, DatapathError> {
    if let Some(link) = adopt(pin, what)? {
        let link = XdpLink::try_from(link).map_err(link_error(what))?;
        match program.attach_to_link(link) {
            Ok(id) => {
                drop(
                    program
                        .take_link(id)
                        .map_err(DatapathError::program(what))?,
                );
                return repin(pin, what);
            }
            // The link outlived its interface (ENOLINK): drop the pin, attach afresh.
            Err(_) => unpin_stale(pin, what)?,
        }
    }
    let id = program
        .attach_to_if_index(ifindex, XdpMode::default())
        .map_err(DatapathError::program(what))?;
    let link = program
        .take_link(id)
        .map_err(DatapathError::program(what))?;
    match FdLink::try_from(link) {
        Ok(link) => pin_link(link, pin, what),
        // A netlink attachment, which dropping the link just detached: attach it again, kept
        // by the program (such attachments cannot outlive the agent anyway).
        Err(_) => program
            .attach_to_if_index(ifindex, XdpMode::default())
            .map(unpinned)
            .map_err(DatapathError::program(what)),
    }
}

/// The link pinned at `pin` by an earlier agent, if there is one. Whether it still has its
/// interface shows when its program is replaced: `bpf_link_update` fails on a link whose device
/// went away, and the caller then drops the pin with [`unpin_stale`].
fn adopt(pin: &Path, what: &str) -> Result<Option<FdLink>, DatapathError> {
    if !pin.exists() {
        return Ok(None);
    }
    let link = PinnedLink::from_pin(pin).map_err(link_error(what))?;
    Ok(Some(FdLink::from(link)))
}

/// Removes the pin of a link that lost its interface.
fn unpin_stale(pin: &Path, what: &str) -> Result<(), DatapathError> {
    std::fs::remove_file(pin).map_err(|error| DatapathError::Link {
        what: format!("{what}: removing the stale pin {}", pin.display()),
        reason: error.to_string(),
    })
}

/// A fresh handle on the link pinned at `pin`, which keeps it attached.
fn repin(pin: &Path, what: &str) -> Result<Attachment, DatapathError> {
    PinnedLink::from_pin(pin)
        .map(Attachment::Pinned)
        .map_err(link_error(what))
}

/// Pins `link` at `pin`, creating the directory.
fn pin_link(link: FdLink, pin: &Path, what: &str) -> Result<Attachment, DatapathError> {
    if let Some(dir) = pin.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|error| DatapathError::program(what)(ProgramError::IOError(error)))?;
    }
    link.pin(pin)
        .map(Attachment::Pinned)
        .map_err(|error| DatapathError::Link {
            what: format!("{what}: pinning at {}", pin.display()),
            reason: match &error {
                aya::pin::PinError::SyscallError(error) => error.io_error.to_string(),
                other => other.to_string(),
            },
        })
}

fn link_error<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> DatapathError {
    let what = what.to_string();
    move |error| DatapathError::Link {
        what,
        reason: error.to_string(),
    }
}
