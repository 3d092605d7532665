//! The messages of the control socket, shared by the agent and the CLI.
//!
//! A connection carries one [`Request`] and one [`Response`], each a JSON object on one line.
//! Both carry [`PROTOCOL_VERSION`]; a message of another version is refused with
//! [`ProtocolError::Version`], which names both versions. For example:
//!
//! ```text
//! > {"version":5,"op":"fdb_add","mac":"02:00:00:00:00:01","vlan":10,"target":{"kind":"port","name":"vp1"}}
//! < {"version":5,"status":"ok","message":"added 02:00:00:00:00:01 in VLAN 10 on vp1"}
//! > {"version":5,"op":"port_del","name":"vp9"}
//! < {"version":5,"status":"error","code":2,"message":"no port vp9"}
//! ```
//!
//! Requests carry the values as the user gave them; the agent validates them with the config's
//! rules.

use std::net::IpAddr;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The version of this protocol; bump it on any incompatible change to the messages.
///
/// 2: `port_add` carries `mtu`, which an agent of version 1 would silently ignore.
/// 3: `port_add` carries `redirect_peer`, which an agent of version 2 would silently ignore.
///
/// 4: `fdb_add_file`, which an agent of version 3 would refuse as a malformed message rather
/// than as a mismatch of builds.
///
/// 5: `port_add` carries `max_macs`, `flood_pps`, `locked` and `allowed_macs`, which an agent of version 4
/// would silently ignore (a port meant to be locked would come up open).
pub const PROTOCOL_VERSION: u32 = 5;

/// The largest message either side accepts, in bytes.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Exit status (and failure code) for bad usage or bad input.
pub const EXIT_USAGE: u8 = 2;

/// Exit status (and failure code) for a runtime failure.
pub const EXIT_RUNTIME: u8 = 1;

/// What the CLI asks of the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

impl Request {
    /// A request of this version.
    pub fn new(command: Command) -> Self {
        Self {
            version: PROTOCOL_VERSION,
            command,
        }
    }
}

/// A live change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// `vswitch port add`.
    PortAdd(PortAdd),
    /// `vswitch port del PORT`.
    PortDel {
        /// The port's (switch-side) interface name.
        name: String,
    },
    /// `vswitch fdb add MAC [--vlan N] (--port PORT | --remote IP --vni N)`.
    FdbAdd {
        /// The MAC address as given.
        mac: String,
        /// `--vlan`.
        vlan: Option<u16>,
        /// Where frames to the address go.
        target: FdbTarget,
    },
    /// `vswitch fdb add --file FILE`: a chunk of the file's entries (a file is sent in as many
    /// as [`MAX_MESSAGE`] requires).
    FdbAddFile(FdbFileChunk),
    /// `vswitch fdb del MAC [--vlan N]`.
    FdbDel {
        /// The MAC address as given.
        mac: String,
        /// `--vlan`.
        vlan: Option<u16>,
    },
    /// `vswitch reload`: re-read the config file and apply the difference.
    Reload,
}

/// `vswitch port add PORT ...`: the fields of a `[[port]]` table, as the user gave them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortAdd {
    /// The port's (switch-side) interface name.
    pub name: String,
    /// `--netns`.
    pub netns: Option<String>,
    /// `--address`, each a CIDR as given.
    pub addresses: Vec<String>,
    /// `--vlan`.
    pub vlan: Option<u16>,
    /// `--trunk`.
    pub trunk: Option<Vec<u16>>,
    /// `--native-vlan`.
    pub native_vlan: Option<u16>,
    /// `--existing`.
    pub existing: bool,
    /// `--hook` ("tc" or "xdp").
    pub hook: Option<String>,
    /// `--mtu`.
    pub mtu: Option<u32>,
    /// `--redirect-peer`: an existing veth whose peer (a container's) frames go straight to.
    #[serde(default)]
    pub redirect_peer: bool,
    /// `--max-macs`: the most learned FDB entries the port may hold.
    #[serde(default)]
    pub max_macs: Option<u32>,
    /// `--flood-pps`: the most frames a second the port may flood.
    #[serde(default)]
    pub flood_pps: Option<u32>,
    /// `--locked`: forward only frames from static entries and `--allowed-mac` addresses.
    #[serde(default)]
    pub locked: bool,
    /// `--allowed-mac`, each as given.
    #[serde(default)]
    pub allowed_macs: Vec<String>,
}

/// Where a static FDB entry sends frames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FdbTarget {
    /// A local port.
    Port {
        /// The port's interface name.
        name: String,
    },
    /// A remote VTEP (VXLAN).
    Remote {
        /// The VTEP's address.
        ip: IpAddr,
        /// The VXLAN network identifier.
        vni: u32,
    },
}

/// Entries of an FDB file, towards local ports: all are checked before any is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbFileChunk {
    /// The file's name, which the agent's messages start with (`FILE:LINE: reason`).
    pub file: String,
    /// Only check the entries (against the ports and their VLANs), write nothing: the CLI
    /// checks every chunk of a file before it writes the first.
    pub check_only: bool,
    /// The entries.
    pub entries: Vec<FdbLine>,
}

/// One line of an FDB file, `[LINE, MAC, VLAN, PORT]` on the wire (compact, so that a chunk
/// holds about two thousand).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbLine(
    /// The line number in the file.
    pub u32,
    /// The MAC address as given.
    pub String,
    /// The VLAN.
    pub u16,
    /// The port's interface name.
    pub String,
);

/// The agent's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u32,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Response {
    /// A response of this version.
    pub fn new(result: Result<Option<String>, CommandFailure>) -> Self {
        let outcome = match result {
            Ok(message) => Outcome::Ok { message },
            Err(failure) => Outcome::Error(failure),
        };
        Self {
            version: PROTOCOL_VERSION,
            outcome,
        }
    }

    /// The outcome as a result: an optional message for the user, or the failure.
    pub fn into_result(self) -> Result<Option<String>, CommandFailure> {
        match self.outcome {
            Outcome::Ok { message } => Ok(message),
            Outcome::Error(failure) => Err(failure),
        }
    }
}

/// Success or failure, on the wire as `"status": "ok" | "error"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok {
        /// Something to tell the user, if anything.
        message: Option<String>,
    },
    /// Refused or failed.
    Error(CommandFailure),
}

/// A command the agent refused or could not carry out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandFailure {
    /// The CLI's exit status: [`EXIT_USAGE`] for bad input, [`EXIT_RUNTIME`] otherwise.
    pub code: u8,
    /// What failed and what to do about it.
    pub message: String,
}

impl CommandFailure {
    /// Bad input (exit 2): the request or its values are wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// A runtime failure (exit 1): the input was fine but applying it failed.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_RUNTIME,
            message: message.into(),
        }
    }
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The message is of another protocol version.
    #[error(
        "the message uses control protocol version {theirs}, this vswitch uses version {ours}: \
         run the vswitch CLI from the same build as the agent (or restart the agent)"
    )]
    Version {
        /// [`PROTOCOL_VERSION`].
        ours: u32,
        /// The message's version.
        theirs: u32,
    },
    /// The message is not valid JSON of the expected shape.
    #[error("malformed control message: {0}")]
    Malformed(serde_json::Error),
    /// The message is longer than [`MAX_MESSAGE`].
    #[error("control message longer than {MAX_MESSAGE} bytes")]
    TooLarge,
    /// The connection closed before a message arrived.
    #[error("the connection closed before a message arrived")]
    Empty,
    /// The message did not arrive in time.
    #[error("no complete control message within {} s", .0.as_secs())]
    TimedOut(std::time::Duration),
    /// Reading the message failed.
    #[error("reading a control message failed: {0}")]
    Io(#[source] std::io::Error),
}

impl From<ProtocolError> for CommandFailure {
    /// How the agent's side answers a request it could not read: another version is a mismatch
    /// of builds (exit 1), anything else a bad request (exit 2).
    fn from(error: ProtocolError) -> Self {
        match error {
            ProtocolError::Version { .. } => Self::runtime(error.to_string()),
            _ => Self::usage(error.to_string()),
        }
    }
}

/// Decodes a message: checks its `version` first, so that another version is refused by number
/// rather than by the shape of its fields.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let Versioned { version } = serde_json::from_slice(bytes).map_err(ProtocolError::Malformed)?;
    if version != PROTOCOL_VERSION {
        return Err(ProtocolError::Version {
            ours: PROTOCOL_VERSION,
            theirs: version,
        });
    }
    serde_json::from_slice(bytes).map_err(ProtocolError::Malformed)
}

/// Encodes a message as one line.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(message).expect("control messages serialize");
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(command: Command) {
        let request = Request::new(command);
        let bytes = encode(&request);
        assert_eq!(bytes.last(), Some(&b'\n'), "one line");
        assert_eq!(
            bytes.iter().filter(|byte| **byte == b'\n').count(),
            1,
            "one line"
        );
        let decoded: Request =
            decode(&bytes).unwrap_or_else(|error| panic!("{request:?}: {error}"));
        assert_eq!(decoded, request);
    }

    #[test]
    fn every_command_round_trips() {
        // Every field set, then none but the name.
        round_trip(Command::PortAdd(PortAdd {
            name: "vp5".into(),
            netns: Some("h5".into()),
            addresses: vec!["fd00::5/64".into()],
            vlan: Some(30),
            trunk: Some(vec![30, 40]),
            native_vlan: Some(2),
            existing: true,
            hook: Some("tc".into()),
            mtu: Some(9000),
            redirect_peer: true,
            max_macs: Some(64),
            flood_pps: Some(1000),
            locked: true,
            allowed_macs: vec!["02:00:00:00:00:03".into()],
        }));
        round_trip(Command::PortAdd(PortAdd {
            name: "up1".into(),
            ..PortAdd::default()
        }));
        round_trip(Command::PortDel { name: "vp4".into() });
        round_trip(Command::FdbAdd {
            mac: "02:00:00:00:00:01".into(),
            vlan: Some(10),
            target: FdbTarget::Port { name: "vp1".into() },
        });
        round_trip(Command::FdbAdd {
            mac: "02:00:00:00:00:02".into(),
            vlan: None,
            target: FdbTarget::Remote {
                ip: "192.0.2.2".parse().expect("an address"),
                vni: 100,
            },
        });
        round_trip(Command::FdbDel {
            mac: "02:00:00:00:00:01".into(),
            vlan: None,
        });
        round_trip(Command::Reload);
    }

    #[test]
    fn responses_round_trip() {
        for result in [
            Ok(None),
            Ok(Some("port vp4 added".to_string())),
            Err(CommandFailure::usage("vlan 5000 is out of range 1..4094")),
            Err(CommandFailure::runtime("netlink: file exists")),
        ] {
            let decoded: Response = decode(&encode(&Response::new(result.clone())))
                .unwrap_or_else(|error| panic!("{result:?}: {error}"));
            assert_eq!(decoded.into_result(), result);
        }
    }

    #[test]
    fn wire_shape_is_flat_and_tagged() {
        let request = Request::new(Command::FdbDel {
            mac: "02:00:00:00:00:01".into(),
            vlan: Some(10),
        });
        let value: serde_json::Value =
            serde_json::from_slice(&encode(&request)).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({"version": PROTOCOL_VERSION, "op": "fdb_del", "mac": "02:00:00:00:00:01", "vlan": 10})
        );
        let response = Response::new(Err(CommandFailure::usage("no port vp9")));
        let value: serde_json::Value =
            serde_json::from_slice(&encode(&response)).expect("valid JSON");
        assert_eq!(
            value,
            serde_json::json!({"version": PROTOCOL_VERSION, "status": "error", "code": 2, "message": "no port vp9"})
        );
    }

    #[test]
    fn another_version_is_refused_by_number() {
        // A future version may reshape the command: the version is still what is reported.
        let bytes = br#"{"version":6,"op":"port_add","port":{"name":"vp4"}}"#;
        let error = decode::<Request>(bytes).expect_err("version 6 is refused");
        assert!(
            matches!(error, ProtocolError::Version { ours: 5, theirs: 6 }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("version 6") && message.contains("version 5"),
            "{message}"
        );
        // An older one may lack fields: refused by number too.
        let bytes =
            br#"{"version":2,"op":"port_add","name":"vp4","addresses":[],"existing":false}"#;
        assert!(matches!(
            decode::<Request>(bytes),
            Err(ProtocolError::Version { ours: 5, theirs: 2 })
        ));
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bytes in [
            &b"not json"[..],
            br#"{"op":"reload"}"#,
            br#"{"version":5,"op":"reboot"}"#,
            br#"{"version":5,"op":"port_del"}"#,
            br#"{"version":5,"op":"fdb_add","mac":"x","vlan":70000,"target":{"kind":"port","name":"vp1"}}"#,
        ] {
            let error = decode::<Request>(bytes).expect_err("malformed");
            assert!(
                matches!(error, ProtocolError::Malformed(_)),
                "{}: {error:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
