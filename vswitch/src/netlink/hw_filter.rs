//! The offloaded filter stage as a cls_bpf tc filter that runs in the device only (`skip_sw`),
//! on the clsact ingress hook: made and removed with raw tc messages, which rtnetlink has no
//! builder for.

use aya_obj::generated::{
    TCA_BPF_FD, TCA_BPF_FLAG_ACT_DIRECT, TCA_BPF_FLAGS, TCA_BPF_FLAGS_GEN, TCA_BPF_NAME,
};
use futures::StreamExt as _;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
use rtnetlink::{
    packet_core::{
        DefaultNla, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkMessage,
        NetlinkPayload,
    },
    packet_route::RouteNetlinkMessage,
};

use super::{Links, NetlinkError};

/// The tc priority of the filter.
const TC_PRIORITY: u16 = 1;
/// `ETH_P_ALL`, the only filter protocol netdevsim offloads.
const ETH_P_ALL: u16 = 0x0003;
/// `TCA_CLS_FLAGS_SKIP_SW` (`linux/pkt_cls.h`, which aya-obj's bindings lack): run the filter in
/// hardware only.
const TCA_CLS_FLAGS_SKIP_SW: u32 = 1 << 1;

impl Links {
    /// Adds a direct-action cls_bpf filter running program `program_fd` (named `name`) in the
    /// device of `ifindex` only; the interface must have a clsact qdisc.
    pub async fn add_hw_filter(
        &self,
        ifindex: u32,
        program_fd: i32,
        name: &str,
    ) -> Result<(), NetlinkError> {
        let mut program_name = name.as_bytes().to_vec();
        program_name.push(0);
        let mut message = filter_message(ifindex);
        message.attributes.push(TcAttribute::Options(vec![
            TcOption::Other(DefaultNla::new(
                TCA_BPF_FD as u16,
                program_fd.to_ne_bytes().to_vec(),
            )),
            TcOption::Other(DefaultNla::new(TCA_BPF_NAME as u16, program_name)),
            TcOption::Other(DefaultNla::new(
                TCA_BPF_FLAGS as u16,
                TCA_BPF_FLAG_ACT_DIRECT.to_ne_bytes().to_vec(),
            )),
            TcOption::Other(DefaultNla::new(
                TCA_BPF_FLAGS_GEN as u16,
                TCA_CLS_FLAGS_SKIP_SW.to_ne_bytes().to_vec(),
            )),
        ]));
        self.acknowledged(
            RouteNetlinkMessage::NewTrafficFilter(message),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .await
        .map_err(NetlinkError::request(format!(
            "attaching {name} to interface {ifindex} as a skip_sw tc filter"
        )))
    }

    /// Removes the filter [`Links::add_hw_filter`] added to `ifindex`.
    pub async fn del_hw_filter(&self, ifindex: u32) -> Result<(), NetlinkError> {
        self.acknowledged(
            RouteNetlinkMessage::DelTrafficFilter(filter_message(ifindex)),
            NLM_F_REQUEST | NLM_F_ACK,
        )
        .await
        .map_err(NetlinkError::request(format!(
            "removing the offloaded tc filter from interface {ifindex}"
        )))
    }

    /// Sends `message` and waits for the kernel's acknowledgement.
    async fn acknowledged(
        &self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), rtnetlink::Error> {
        let mut request = NetlinkMessage::from(message);
        request.header.flags = flags;
        let mut handle = self.handle.clone();
        let mut response = handle.request(request)?;
        while let Some(message) = response.next().await {
            if let NetlinkPayload::Error(error) = message.payload
                && error.code.is_some()
            {
                return Err(rtnetlink::Error::NetlinkError(error));
            }
        }
        Ok(())
    }
}

/// A cls_bpf filter message for the clsact ingress hook (ffff:fff2) of `ifindex`, at the
/// filter's priority and protocol.
fn filter_message(ifindex: u32) -> TcMessage {
    let mut message = TcMessage::with_index(ifindex as i32);
    message.header.parent = TcHandle {
        major: 0xffff,
        minor: 0xfff2,
    };
    message.header.info = u32::from(TC_PRIORITY) << 16 | u32::from(ETH_P_ALL.to_be());
    message
        .attributes
        .push(TcAttribute::Kind("bpf".to_string()));
    message
}
