//! Rebuilds the eBPF object when the `bpf-linker` binary changes, since linking depends on it.

use which::which;

fn main() {
    let bpf_linker = which("bpf-linker").expect(
        "bpf-linker is not on PATH: run `cargo xtask test` or \
         `cargo install bpf-linker@0.10.3 --locked`",
    );
    println!("cargo:rerun-if-changed={}", bpf_linker.display());
}
