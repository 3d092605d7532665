//! Output helpers shared by the `show` commands: tables for people, JSON for scripts.

use std::collections::HashMap;

use vswitch::{
    datapath::Maps,
    state::{InstanceState, PortRecord},
};

use super::Failure;

/// A running instance's record and its maps.
pub struct Instance {
    /// The record.
    pub state: InstanceState,
    /// The maps.
    pub maps: Maps,
}

impl Instance {
    /// Opens the running instance `name`.
    pub fn open(name: &str) -> Result<Self, Failure> {
        let state = InstanceState::read(name)?;
        let maps = Maps::open(&state.maps)?;
        Ok(Self { state, maps })
    }

    /// Port names by ifindex.
    pub fn port_names(&self) -> HashMap<u32, &PortRecord> {
        self.state
            .ports
            .iter()
            .map(|port| (port.ifindex, port))
            .collect()
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac(bytes: &[u8; 6]) -> String {
    vswitch_common::mac::Colons(bytes).to_string()
}

/// Prints rows under a header, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints `value` as pretty JSON.
pub fn json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialize")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_is_lowercase_colon_separated() {
        let bytes = [0x02, 0xab, 0, 0, 0x10, 0xff];
        assert_eq!(mac(&bytes), "02:ab:00:00:10:ff");
    }
}
