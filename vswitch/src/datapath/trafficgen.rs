//! The benchmark's XDP object, embedded here only because this crate's `build.rs` is where
//! `build.rs` compiles every binary of `vswitch-ebpf`.

/// Benchmark-only: the traffic generator, sinks and plain XDP forwarder of `cargo xtask bench`
/// (`vswitch-ebpf/src/bin/trafficgen.rs`). The switch never loads it.
///
/// It is a separate object, not part of [`OBJECT`](super::OBJECT), so the datapath carries no
/// benchmark code. It is exposed from here rather than built by the `tests` crate because
/// `build.rs` already compiles every binary of `vswitch-ebpf` into this crate's `OUT_DIR`: a
/// second `build.rs` would build `core` for the BPF target again and contend for the same
/// target directory, for 5 KiB of bytes.
pub static TRAFFICGEN: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/trafficgen"));
