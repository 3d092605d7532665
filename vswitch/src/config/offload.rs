//! What the configuration asks for: `offload = "off" | "xdp" | "tc" | "xdp-required" |
//! "tc-required"`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// The hook at which a device runs the offloaded filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffloadHook {
    /// XDP in hardware mode (`XDP_FLAGS_HW_MODE`).
    Xdp,
    /// A cls_bpf classifier at ingress with `skip_sw`.
    Tc,
}

/// A port's offload setting.
///
/// `xdp` and `tc` prefer offload: when the device refuses, the port runs in software and the
/// agent logs why. `xdp-required` and `tc-required` make a refusal fail the start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offload {
    /// Where to offload, or `None` for no offload.
    pub hook: Option<OffloadHook>,
    /// Whether a refusal is an error rather than a fallback to software.
    pub required: bool,
}

/// The words `offload` takes.
pub const OFFLOAD_WORDS: &str = "\"off\", \"xdp\", \"tc\", \"xdp-required\" or \"tc-required\"";

impl FromStr for Offload {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (hook, required) = match text {
            "off" => (None, false),
            "xdp" => (Some(OffloadHook::Xdp), false),
            "tc" => (Some(OffloadHook::Tc), false),
            "xdp-required" => (Some(OffloadHook::Xdp), true),
            "tc-required" => (Some(OffloadHook::Tc), true),
            _ => return Err(format!("offload {text:?} is not one of {OFFLOAD_WORDS}")),
        };
        Ok(Self { hook, required })
    }
}

impl fmt::Display for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hook = match self.hook {
            None => return f.write_str("off"),
            Some(OffloadHook::Xdp) => "xdp",
            Some(OffloadHook::Tc) => "tc",
        };
        let required = if self.required { "-required" } else { "" };
        write!(f, "{hook}{required}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips() {
        for word in ["off", "xdp", "tc", "xdp-required", "tc-required"] {
            assert_eq!(word.parse::<Offload>().unwrap().to_string(), word);
        }
        assert!("hw".parse::<Offload>().unwrap_err().contains("not one of"));
    }
}
