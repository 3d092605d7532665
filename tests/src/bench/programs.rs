//! The datapath's programs as the kernel holds them: their size after translation and the
//! instructions the verifier walked, the cost that issue 15 tracks per program.

use vswitch::datapath::Programs;

/// One program's size.
#[derive(Clone, Debug)]
pub struct ProgramSize {
    /// The program's name in the object.
    pub name: String,
    /// Instructions after the kernel's translation (`xlated_prog_len` / 8).
    pub xlated: u32,
    /// Instructions the verifier processed to accept it.
    pub verified: u32,
}

/// Size of one BPF instruction.
const INSTRUCTION: u32 = 8;

/// Loads the datapath object as the agent does and reads every program's sizes, by name.
pub fn measure() -> Vec<ProgramSize> {
    let mut programs = Programs::load(0).expect("loading the datapath");
    let mut sizes: Vec<ProgramSize> = programs
        .ebpf_mut()
        .programs()
        .map(|(name, program)| {
            let info = program
                .info()
                .unwrap_or_else(|error| panic!("reading the information of {name}: {error}"));
            ProgramSize {
                name: name.to_string(),
                xlated: info.size_translated().unwrap_or(0) / INSTRUCTION,
                verified: info.verified_instruction_count().unwrap_or(0),
            }
        })
        .collect();
    sizes.sort_by(|a, b| a.name.cmp(&b.name));
    sizes
}
