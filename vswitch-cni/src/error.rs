//! Errors in the spec's shape: a well-known code, a message, and details.

use serde::Serialize;

/// The spec's well-known error codes (SPEC.md, "Error"), and the plugin's own from 100.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    /// 1: the network config asks for a CNI version this plugin does not speak.
    IncompatibleVersion = 1,
    /// 2: the network config has a field this plugin does not support.
    UnsupportedField = 2,
    /// 3: the container (its network namespace) is unknown or gone.
    UnknownContainer = 3,
    /// 4: a required `CNI_*` environment variable is missing or invalid.
    InvalidEnvironment = 4,
    /// 5: reading or writing failed.
    Io = 5,
    /// 6: stdin or a delegate's output is not the JSON it should be.
    Decode = 6,
    /// 7: the network config is invalid.
    InvalidConfig = 7,
    /// 11: a transient condition (the switch is not running): try again later.
    TryAgainLater = 11,
    /// 50: STATUS: the plugin cannot serve ADD now.
    NotAvailable = 50,
    /// 100: the switch, the kernel or the IPAM delegate failed.
    Failed = 100,
}

/// A failure, printed on stdout as the spec's error object, with a non-zero exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CniError {
    /// The error code.
    pub code: u32,
    /// A short message.
    pub message: String,
    /// More detail, if any.
    pub details: Option<String>,
}

impl CniError {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code as u32,
            message: message.into(),
            details: None,
        }
    }

    /// An error of `code` whose message is `context` and whose details are `source`'s chain.
    pub fn caused(code: Code, context: impl Into<String>, source: &dyn std::error::Error) -> Self {
        let mut details = source.to_string();
        let mut cause = source.source();
        while let Some(next) = cause {
            details.push_str(": ");
            details.push_str(&next.to_string());
            cause = next.source();
        }
        Self {
            code: code as u32,
            message: context.into(),
            details: Some(details),
        }
    }

    /// An error with the code, message and details a delegate plugin reported.
    pub fn delegated(code: u32, message: String, details: Option<String>) -> Self {
        Self {
            code,
            message,
            details,
        }
    }

    /// The spec's error object for `cni_version`.
    pub fn to_json(&self, cni_version: &str) -> serde_json::Value {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(rename = "cniVersion")]
            cni_version: &'a str,
            code: u32,
            msg: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            details: Option<&'a str>,
        }
        serde_json::to_value(Wire {
            cni_version,
            code: self.code,
            msg: &self.message,
            details: self.details.as_deref(),
        })
        .expect("an error object serializes")
    }
}

impl From<vswitch::netlink::NetlinkError> for CniError {
    fn from(error: vswitch::netlink::NetlinkError) -> Self {
        Self::caused(Code::Failed, "netlink", &error)
    }
}

impl From<vswitch::control::ControlError> for CniError {
    fn from(error: vswitch::control::ControlError) -> Self {
        match error {
            vswitch::control::ControlError::NotRunning(_) => {
                Self::new(Code::TryAgainLater, error.to_string())
            }
            _ => Self::new(Code::Failed, format!("vswitch: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_object_has_the_spec_fields() {
        let error = CniError::new(Code::UnsupportedField, "unknown field `foo`");
        assert_eq!(
            error.to_json("1.1.0"),
            serde_json::json!({"cniVersion": "1.1.0", "code": 2, "msg": "unknown field `foo`"})
        );
        let io = std::io::Error::other("disk full");
        let error = CniError::caused(Code::Io, "writing the record", &io);
        assert_eq!(error.to_json("1.0.0")["details"], "disk full");
        assert_eq!(error.to_json("1.0.0")["code"], 5);
    }
}
