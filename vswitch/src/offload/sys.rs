//! The `bpf` system calls that aya 0.14 does not expose: creating a map and loading a program
//! bound to a device, and attaching XDP in hardware mode through a BPF link.

use std::{
    collections::HashSet,
    ffi::CString,
    io,
    os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
};

use aya_obj::{
    Object, ProgramSection,
    generated::{
        XDP_FLAGS_HW_MODE, bpf_attach_type, bpf_attr, bpf_cmd, bpf_map_type, bpf_prog_type,
    },
};

/// Size of the verifier log buffer.
const LOG_SIZE: usize = 64 * 1024;

/// Why [`load_bound`] failed.
pub enum LoadError {
    /// The object could not be parsed or linked.
    Object(String),
    /// The kernel refused a step.
    Refused {
        /// The step.
        what: String,
        /// The kernel's answer.
        source: io::Error,
        /// What the answer usually means.
        hint: &'static str,
        /// The verifier log, with a leading newline, or empty.
        log: String,
    },
}

/// Creates the maps of `object` bound to `ifindex`, links program `program` against them and
/// loads it bound to the same device. Returns the program and the map called `map`.
pub fn load_bound(
    object: &[u8],
    program: &str,
    map: &str,
    ifindex: u32,
) -> Result<(OwnedFd, OwnedFd), LoadError> {
    let mut object = Object::parse(object).map_err(|error| LoadError::Object(error.to_string()))?;
    let mut maps = Vec::new();
    for (name, definition) in &object.maps {
        let map_type = definition.map_type();
        if map_type != bpf_map_type::BPF_MAP_TYPE_ARRAY as u32
            && map_type != bpf_map_type::BPF_MAP_TYPE_HASH as u32
        {
            return Err(LoadError::Refused {
                what: format!("map {name}"),
                source: io::Error::from_raw_os_error(libc::EINVAL),
                hint: "devices take only hash and array maps (its type is not one of them)",
                log: String::new(),
            });
        }
        let fd = create_map(name, definition, ifindex).map_err(|source| LoadError::Refused {
            what: format!("creating map {name} on the device"),
            hint: hint_map(&source),
            source,
            log: String::new(),
        })?;
        maps.push((name.clone(), fd));
    }
    let text_sections: HashSet<usize> = object
        .functions
        .keys()
        .map(|(section, _)| *section)
        .collect();
    let definitions = object.maps.clone();
    object
        .relocate_maps(
            maps.iter()
                .map(|(name, fd)| (name.as_str(), fd.as_raw_fd(), &definitions[name])),
            &text_sections,
        )
        .map_err(|error| LoadError::Object(error.to_string()))?;
    object
        .relocate_calls(&text_sections)
        .map_err(|error| LoadError::Object(error.to_string()))?;
    let entry = object
        .programs
        .get(program)
        .ok_or_else(|| LoadError::Object(format!("no program {program}")))?;
    let function = object
        .functions
        .get(&entry.function_key())
        .ok_or_else(|| LoadError::Object(format!("no code for {program}")))?;
    let prog_type = match &entry.section {
        ProgramSection::Xdp { .. } => bpf_prog_type::BPF_PROG_TYPE_XDP,
        ProgramSection::SchedClassifier => bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS,
        other => {
            return Err(LoadError::Object(format!(
                "{program} is a {other:?} program, which the offload stage is not"
            )));
        }
    };
    let license = object.license.clone();
    let prog = load_program(program, prog_type, function, &license, ifindex)?;
    let map = maps
        .into_iter()
        .find_map(|(name, fd)| (name == map).then_some(fd))
        .ok_or_else(|| LoadError::Object(format!("no map {map}")))?;
    Ok((prog, map))
}

/// `BPF_MAP_CREATE` with `map_ifindex`.
fn create_map(name: &str, map: &aya_obj::Map, ifindex: u32) -> io::Result<OwnedFd> {
    // SAFETY: an all-zero bpf_attr is the kernel's "unset" for every field.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: the map-create member of the union is the one the command reads.
    let create = unsafe { &mut attr.__bindgen_anon_1 };
    create.map_type = map.map_type();
    create.key_size = map.key_size();
    create.value_size = map.value_size();
    create.max_entries = map.max_entries();
    create.map_flags = map.map_flags();
    create.map_ifindex = ifindex;
    for (slot, byte) in create.map_name.iter_mut().zip(name.bytes().take(15)) {
        *slot = byte as libc::c_char;
    }
    bpf_fd(bpf_cmd::BPF_MAP_CREATE, &mut attr)
}

/// `BPF_PROG_LOAD` with `prog_ifindex`, collecting the verifier log.
fn load_program(
    name: &str,
    prog_type: bpf_prog_type,
    function: &aya_obj::Function,
    license: &CString,
    ifindex: u32,
) -> Result<OwnedFd, LoadError> {
    let mut log = vec![0u8; LOG_SIZE];
    // SAFETY: as in `create_map`.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: the program-load member of the union is the one the command reads.
    let load = unsafe { &mut attr.__bindgen_anon_3 };
    load.prog_type = prog_type as u32;
    load.insns = function.instructions.as_ptr() as u64;
    load.insn_cnt = function.instructions.len() as u32;
    load.license = license.as_ptr() as u64;
    load.log_level = 1;
    load.log_buf = log.as_mut_ptr() as u64;
    load.log_size = LOG_SIZE as u32;
    load.prog_ifindex = ifindex;
    for (slot, byte) in load.prog_name.iter_mut().zip(name.bytes().take(15)) {
        *slot = byte as libc::c_char;
    }
    bpf_fd(bpf_cmd::BPF_PROG_LOAD, &mut attr).map_err(|source| {
        let end = log.iter().position(|byte| *byte == 0).unwrap_or(log.len());
        let text = String::from_utf8_lossy(&log[..end]);
        let text = text.trim();
        LoadError::Refused {
            what: format!("loading {name} bound to the device"),
            hint: hint_program(&source),
            source,
            log: if text.is_empty() {
                String::new()
            } else {
                format!("\nverifier log:\n{text}")
            },
        }
    })
}

/// Attaches `program` to `ifindex` in XDP hardware mode through a BPF link; closing the link
/// detaches it.
pub fn xdp_link_hw(program: BorrowedFd<'_>, ifindex: u32) -> io::Result<OwnedFd> {
    // SAFETY: as in `create_map`.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: the link-create member of the union is the one the command reads.
    let link = unsafe { &mut attr.link_create };
    link.__bindgen_anon_1.prog_fd = program.as_raw_fd() as u32;
    link.__bindgen_anon_2.target_ifindex = ifindex;
    link.attach_type = bpf_attach_type::BPF_XDP as u32;
    link.flags = XDP_FLAGS_HW_MODE;
    bpf_fd(bpf_cmd::BPF_LINK_CREATE, &mut attr)
}

/// Runs a `bpf` command that returns a new file descriptor.
fn bpf_fd(command: bpf_cmd, attr: &mut bpf_attr) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is the bpf_attr member `command` reads; pointers in it outlive the call.
    let fd = unsafe { crate::sys::bpf(command, attr) }?;
    // SAFETY: the command returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// What a refused device-bound map usually means.
fn hint_map(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EINVAL) => {
            "the device's driver cannot offload BPF (only drivers such as nfp and netdevsim can), \
             or the map type is not offloadable"
        }
        Some(libc::ENOMEM) => "the map is larger than the device takes (netdevsim: 2 entries)",
        Some(libc::EOPNOTSUPP) => {
            "the device's driver cannot offload BPF (only drivers such as nfp and netdevsim can), \
             or refuses offloaded maps"
        }
        _ => "the device cannot hold this map",
    }
}

/// What a refused device-bound program usually means.
fn hint_program(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EINVAL) => {
            "the device's driver cannot offload BPF (only drivers such as nfp and netdevsim can)"
        }
        Some(libc::EOPNOTSUPP) => "the device's verifier refused the program (see its log)",
        _ => "the kernel refused the program (see the verifier log)",
    }
}

/// What a refused hardware-mode attach usually means.
pub fn hint_attach() -> &'static str {
    "the device refused the program in XDP hardware mode (offload disabled or busy)"
}
