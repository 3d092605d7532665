//! Loading the programs and attaching them to ports.

use aya::{
    Ebpf, EbpfLoader,
    programs::{
        ProgramFd, SchedClassifier, TcAttachType, Xdp, XdpMode,
        tc::{self, SchedClassifierLinkId},
        xdp::XdpLinkId,
    },
    util::KernelVersion,
};
use vswitch_common::program_names;

use super::{DatapathError, OBJECT};
use crate::netlink::{NetlinkError, netns};

/// Kernels from this version attach tc programs as TCX links and need no clsact qdisc.
const TCX_SINCE: KernelVersion = KernelVersion::new(6, 6, 0);

/// A program attached to one interface, to detach it again.
#[derive(Debug)]
pub enum Attachment {
    /// The TCX (or clsact) ingress program.
    Tc(SchedClassifierLinkId),
    /// The XDP ingress program.
    Xdp(XdpLinkId),
    /// The pass-through program on a veth peer.
    Pass(XdpLinkId),
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
        let ebpf = EbpfLoader::new()
            .override_global(aya_log::LEVEL, &log_level, true)
            .load(OBJECT)?;
        let mut programs = Self { ebpf };
        let name = program_names::TC_INGRESS;
        programs
            .program::<SchedClassifier>(name)?
            .load()
            .map_err(DatapathError::program(format!("loading {name}")))?;
        for name in [
            program_names::XDP_INGRESS,
            program_names::XDP_EGRESS,
            program_names::XDP_PASS,
        ] {
            programs
                .program::<Xdp>(name)?
                .load()
                .map_err(DatapathError::program(format!("loading {name}")))?;
        }
        Ok(programs)
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

    /// Detaches what `attachment` attached. An interface that is already gone is no error.
    pub fn detach(&mut self, attachment: Attachment) -> Result<(), DatapathError> {
        let result = match attachment {
            Attachment::Tc(id) => self
                .program::<SchedClassifier>(program_names::TC_INGRESS)?
                .detach(id),
            Attachment::Xdp(id) => self.program::<Xdp>(program_names::XDP_INGRESS)?.detach(id),
            Attachment::Pass(id) => self.program::<Xdp>(program_names::XDP_PASS)?.detach(id),
        };
        result.map_err(DatapathError::program("detaching a program"))
    }

    /// Attaches the TCX ingress program to the interface called `ifname`.
    pub fn attach_tc(&mut self, ifname: &str) -> Result<Attachment, DatapathError> {
        let what = format!("attaching {} to {ifname}", program_names::TC_INGRESS);
        if KernelVersion::current().is_ok_and(|version| version < TCX_SINCE) {
            match tc::qdisc_add_clsact(ifname) {
                Ok(()) => {}
                Err(tc::TcError::NetlinkError(error))
                    if error.raw_os_error() == Some(libc::EEXIST) => {}
                Err(error) => {
                    return Err(DatapathError::program(&what)(error.into()));
                }
            }
        }
        self.program::<SchedClassifier>(program_names::TC_INGRESS)?
            .attach(ifname, TcAttachType::Ingress)
            .map(Attachment::Tc)
            .map_err(DatapathError::program(what))
    }

    /// Attaches the XDP ingress program to the interface with `ifindex`.
    pub fn attach_xdp(&mut self, ifindex: u32) -> Result<Attachment, DatapathError> {
        self.program::<Xdp>(program_names::XDP_INGRESS)?
            .attach_to_if_index(ifindex, XdpMode::default())
            .map(Attachment::Xdp)
            .map_err(DatapathError::program(format!(
                "attaching {} to interface {ifindex}",
                program_names::XDP_INGRESS
            )))
    }

    /// Attaches the pass-through XDP program to interface `ifindex` in namespace `netns_name`,
    /// so that native XDP redirects into its veth peer are delivered.
    pub fn attach_pass_in(
        &mut self,
        netns_name: &str,
        ifindex: u32,
    ) -> Result<Attachment, DatapathError> {
        let what = format!(
            "attaching {} to interface {ifindex} in netns {netns_name}",
            program_names::XDP_PASS
        );
        let program = self.program::<Xdp>(program_names::XDP_PASS)?;
        netns::run_in(netns_name, || {
            program.attach_to_if_index(ifindex, XdpMode::default())
        })
        .map_err(|error: NetlinkError| DatapathError::Program {
            what: what.clone(),
            source: aya::programs::ProgramError::IOError(std::io::Error::other(error.to_string())),
        })?
        .map(Attachment::Pass)
        .map_err(DatapathError::program(what))
    }

    fn program<'a, P>(&'a mut self, name: &'static str) -> Result<&'a mut P, DatapathError>
    where
        &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
    {
        self.ebpf
            .program_mut(name)
            .ok_or(DatapathError::Missing(name))?
            .try_into()
            .map_err(DatapathError::program(name))
    }
}
