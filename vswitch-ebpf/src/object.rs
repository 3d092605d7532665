//! What every vswitch eBPF object carries besides its programs: the panic handler and the
//! license.

// Host builds (clippy over the workspace) get std's handler through feature unification.
#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
