//! Points the benchmark at its XDP object (`vswitch-ebpf/src/bin/trafficgen.rs`), which
//! `vswitch`'s build script compiles with the datapath and announces through `links`: the
//! object is the tests' own, and the product neither embeds nor exports it.

fn main() {
    let objects = std::env::var("DEP_VSWITCH_EBPF_OBJECTS")
        .expect("vswitch's build script names its object directory");
    println!("cargo:rustc-env=VSWITCH_EBPF_OBJECTS={objects}");
}
