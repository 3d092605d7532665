//! Unique, short names for namespaces, interfaces and switch instances.

use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name no other test or process uses: `vt<pid in base 36>-<counter><tag>`, at most 15 bytes
/// (`cargo xtask clean` relies on this shape to find the leftovers of killed runs),
/// so it is also a valid interface name.
pub fn unique(tag: &str) -> String {
    with_prefix("vt", tag)
}

/// The same for the benchmark harness: `vb<pid in base 36>-<counter><tag>`.
pub fn bench(tag: &str) -> String {
    with_prefix("vb", tag)
}

fn with_prefix(prefix: &str, tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}-{n}{tag}", base36(std::process::id()));
    assert!(name.len() <= 15, "name {name} is too long for an interface");
    name
}

fn base36(mut value: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII digits")
}
