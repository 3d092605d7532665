//! Switch-wide settings the datapath reads.

/// Index 0 of the `SWITCH` array map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchConfig {
    /// Learned entries older than this are treated as unknown.
    pub ageing_ns: u64,
    /// Most learned entries of all ports together (`[switch] max_macs`); 0 for no limit but
    /// the FDB's capacity.
    pub max_macs: u32,
    /// Reserved, zero.
    pub _pad: u32,
}

impl SwitchConfig {
    /// The default learned-address lifetime, as in the Linux bridge: 300 s.
    pub const DEFAULT_AGEING_NS: u64 = 300 * 1_000_000_000;
}

impl Default for SwitchConfig {
    fn default() -> Self {
        Self {
            ageing_ns: Self::DEFAULT_AGEING_NS,
            max_macs: 0,
            _pad: 0,
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: `repr(C)` integers with no padding.
unsafe impl aya::Pod for SwitchConfig {}
