//! Fuzzing support: a seeded generator, hostile frames, the regression corpus, and the tally of
//! what the datapath did with every frame sent.
//!
//! The seed comes from `VSWITCH_FUZZ_SEED` (else the clock) and is printed, so that any run can
//! be repeated; `VSWITCH_FUZZ_CASES` sets the number of generated cases per program
//! (`cargo xtask test --long` sets a million). A case that breaks an invariant is written out
//! under the temporary directory; copied to `tests/corpus/<program>/`, it is replayed by every
//! later run.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use vswitch_common::stats::{DropReason, PortStats};

use crate::frames::{Mac, VxlanOuter, station};

/// Generated cases per program in the fast run.
const DEFAULT_CASES: usize = 3000;

/// A SplitMix64 generator: small, seeded, and the same on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// 16 random bits.
    pub fn u16(&mut self) -> u16 {
        self.next_u64() as u16
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// The seed of this run: `$VSWITCH_FUZZ_SEED`, else taken from the clock. Printed.
pub fn seed() -> u64 {
    let seed = std::env::var("VSWITCH_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos() as u64)
        });
    eprintln!("fuzz seed {seed} (repeat with VSWITCH_FUZZ_SEED={seed})");
    seed
}

/// Generated cases per program: `$VSWITCH_FUZZ_CASES`, else a few thousand.
pub fn cases() -> usize {
    std::env::var("VSWITCH_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The regression corpus of `program`: every `tests/corpus/<program>/*.bin`, in name order.
pub fn corpus(program: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(program);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading the corpus {}: {error}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "bin"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("reading a corpus file");
            (path, bytes)
        })
        .collect()
}

/// Writes a failing case of `program` out, and returns where.
pub fn write_failure(program: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join("vswitch-fuzz").join(program);
    std::fs::create_dir_all(&dir).expect("creating the failure directory");
    let path = dir.join(format!("{name}.bin"));
    std::fs::write(&path, bytes).expect("writing the failing case");
    path
}

/// What happened to the frames sent to one program, by outcome.
#[derive(Debug, Default)]
pub struct Tally {
    /// Frames the program ran on.
    pub sent: u64,
    /// Frames `BPF_PROG_TEST_RUN` refused before the program ran (shorter than an Ethernet
    /// header, or longer than a page of test data): they were never sent.
    pub refused: u64,
    outcomes: BTreeMap<&'static str, u64>,
}

impl Tally {
    /// Counts one frame that ended as `outcome`.
    pub fn record(&mut self, outcome: &'static str) {
        self.sent += 1;
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    /// Prints the outcomes of `program` and checks that they add up to the frames sent.
    pub fn report(&self, program: &str) {
        let counted: u64 = self.outcomes.values().sum();
        eprintln!(
            "{program}: {} frames sent, {} refused by the kernel",
            self.sent, self.refused
        );
        for (outcome, count) in &self.outcomes {
            eprintln!("  {outcome:<20} {count}");
        }
        assert_eq!(counted, self.sent, "{program}: outcomes do not add up");
    }
}

/// What a program did with a frame, from its return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Dropped (`XDP_DROP`, `TC_ACT_SHOT`).
    Drop,
    /// Redirected to another interface (`XDP_REDIRECT`, `TC_ACT_REDIRECT`).
    Redirect,
    /// Handed on to the stack (`XDP_PASS`, `TC_ACT_OK`).
    Pass,
}

impl Action {
    /// The action of an XDP return value; `None` for any other.
    pub const fn of_xdp(value: u32) -> Option<Self> {
        match value {
            1 => Some(Self::Drop),
            2 => Some(Self::Pass),
            4 => Some(Self::Redirect),
            _ => None,
        }
    }

    /// The action of a tc return value; `None` for any other.
    pub const fn of_tc(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Pass),
            2 => Some(Self::Drop),
            7 => Some(Self::Redirect),
            _ => None,
        }
    }
}

/// `after - before`, counter by counter.
pub fn delta(after: &PortStats, before: &PortStats) -> PortStats {
    let mut drops = [0; DropReason::COUNT];
    for (reason, slot) in drops.iter_mut().enumerate() {
        *slot = after.drops[reason] - before.drops[reason];
    }
    PortStats {
        rx_packets: after.rx_packets - before.rx_packets,
        rx_bytes: after.rx_bytes - before.rx_bytes,
        tx_packets: after.tx_packets - before.tx_packets,
        tx_bytes: after.tx_bytes - before.tx_bytes,
        forwarded: after.forwarded - before.forwarded,
        flooded: after.flooded - before.flooded,
        learned: after.learned - before.learned,
        answered: after.answered - before.answered,
        learn_refused: after.learn_refused - before.learn_refused,
        moved_in: after.moved_in - before.moved_in,
        drops,
    }
}

/// The one drop reason counted in `delta`, if exactly one drop was.
pub fn only_drop(delta: &PortStats) -> Option<DropReason> {
    if delta.total_drops() != 1 {
        return None;
    }
    DropReason::ALL
        .into_iter()
        .find(|reason| delta.drops[*reason as usize] == 1)
}

/// Checks how a switch port's counters moved for one frame received on it, given the
/// program's `action` and the drop reason the host-side decision logic predicts for the frame
/// (`expected`, when it is malformed or not allowed in). `flood_drops` says the hook drops the
/// original of a flood after sending its copies (TCX), which may count failed copies as drops.
/// The outcome, or what is wrong.
pub fn judge_switched(
    action: Action,
    delta: &PortStats,
    expected: Option<DropReason>,
    flood_drops: bool,
) -> Result<&'static str, String> {
    if delta.rx_packets != 1 {
        return Err(format!("received counted {} times", delta.rx_packets));
    }
    let switched = delta.forwarded + delta.flooded;
    let outcome = match action {
        Action::Pass => return Err("handed to the stack".to_string()),
        Action::Redirect if switched == 1 && delta.total_drops() == 0 => {
            if delta.forwarded == 1 {
                "forwarded"
            } else {
                "flooded"
            }
        }
        Action::Drop if flood_drops && delta.flooded == 1 && delta.forwarded == 0 => {
            let copies = delta.drops[DropReason::HelperFailed as usize];
            if delta.total_drops() != copies {
                return Err(format!("a flood also counted drops {:?}", delta.drops));
            }
            "flooded"
        }
        Action::Drop if switched == 0 => match only_drop(delta) {
            Some(reason) => reason.name(),
            None => return Err(format!("dropped, counted as {:?}", delta.drops)),
        },
        Action::Redirect | Action::Drop => {
            return Err(format!(
                "{action:?}, with forwarded {} flooded {} drops {:?}",
                delta.forwarded, delta.flooded, delta.drops
            ));
        }
    };
    match expected {
        Some(reason) if reason.name() != outcome => Err(format!(
            "expected a drop as {}, got {outcome}",
            reason.name()
        )),
        _ => Ok(outcome),
    }
}

/// The ethertypes of VLAN tags, the 802.1ad one and an old QinQ one among them.
const TAG_TYPES: [u16; 3] = [0x8100, 0x88a8, 0x9100];

/// Ethertypes a generated frame carries: real ones, tags, and nonsense.
const ETHERTYPES: [u16; 10] = [
    0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x9100, 0x88b5, 0x0000, 0x05dc, 0xffff,
];

/// A MAC address of the kind that matters to a switch: a few stations (so that addresses are
/// learned and met again), broadcast, multicast, all-zero, or random.
pub fn mac(rng: &mut Rng) -> Mac {
    match rng.below(10) {
        0 => [0xff; 6],
        1 => [0x01, 0x00, 0x5e, 0, 0, rng.next_u64() as u8],
        2 => [0; 6],
        3 => {
            let bytes = rng.bytes(6);
            [bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]]
        }
        _ => station(1 + rng.below(8) as u8),
    }
}

/// A VLAN tag control information field: priority bits and a VID among 0, 1, 10, 20, 4095 and
/// random ones.
fn tci(rng: &mut Rng) -> u16 {
    let random = rng.u16() & 0x0fff;
    let vid = rng.pick(&[0, 1, 1, 10, 10, 20, 4095, random]);
    (rng.u16() & 0xe000) | vid
}

/// A well-formed frame: untagged, tagged, stacked tags (802.1ad or 802.1Q over 802.1Q), or
/// ARP, with a payload of `payload` bytes.
pub fn valid(rng: &mut Rng, payload: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload + 30);
    frame.extend_from_slice(&mac(rng));
    frame.extend_from_slice(&station(1 + rng.below(8) as u8));
    for _ in 0..rng.pick(&[0, 0, 1, 1, 2, 3]) {
        frame.extend_from_slice(&rng.pick(&TAG_TYPES).to_be_bytes());
        frame.extend_from_slice(&tci(rng).to_be_bytes());
    }
    if rng.chance(30) {
        frame.extend_from_slice(&arp_with_lies(rng));
    } else {
        frame.extend_from_slice(&rng.pick(&ETHERTYPES).to_be_bytes());
        frame.extend(rng.bytes(payload));
    }
    frame
}

/// An ARP ethertype and body that lie: a sender address other than the frame's source (or a
/// group or zero one), a bogus operation, wrong lengths, or a cut-off body.
fn arp_with_lies(rng: &mut Rng) -> Vec<u8> {
    let mut arp = vec![0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4];
    arp.extend_from_slice(&rng.pick::<u16>(&[1, 2, 0, 3, 0xffff]).to_be_bytes());
    arp.extend_from_slice(&mac(rng));
    arp.extend(rng.bytes(4));
    arp.extend_from_slice(&mac(rng));
    arp.extend(rng.bytes(4));
    if rng.chance(20) {
        arp[6] = rng.next_u64() as u8;
        arp[7] = rng.next_u64() as u8;
    }
    if rng.chance(20) {
        arp.truncate(2 + rng.below(28));
    }
    arp
}

/// A hostile Ethernet frame: random bytes, a valid frame cut short or with bits flipped, a bad
/// ethertype, stacked tags, ARP with lies, a runt or a jumbo frame.
pub fn hostile_frame(rng: &mut Rng) -> Vec<u8> {
    match rng.below(8) {
        0 => {
            let len = rng.below(200);
            rng.bytes(len)
        }
        1 => {
            let mut frame = valid(rng, 46);
            let cut = rng.below(frame.len() + 1);
            frame.truncate(cut);
            frame
        }
        2 => {
            let mut frame = valid(rng, 46);
            flip_bits(rng, &mut frame);
            frame
        }
        3 => {
            let mut frame = valid(rng, 46);
            frame[12..14].copy_from_slice(&rng.u16().to_be_bytes());
            frame
        }
        4 => {
            let len = rng.pick(&[1500, 1514, 1518, 1522, 3000, 4000, 9000, 9018]);
            valid(rng, len)
        }
        5 => {
            let len = rng.below(14);
            rng.bytes(len)
        }
        _ => {
            let payload = rng.below(64);
            valid(rng, payload)
        }
    }
}

/// Flips one to eight random bits of `frame`.
pub fn flip_bits(rng: &mut Rng, frame: &mut [u8]) {
    if frame.is_empty() {
        return;
    }
    for _ in 0..=rng.below(8) {
        let at = rng.below(frame.len());
        frame[at] ^= 1 << rng.below(8);
    }
}

/// Every prefix of `frame`, from the empty one to the whole frame.
pub fn truncations(frame: &[u8]) -> impl Iterator<Item = &[u8]> {
    (0..=frame.len()).map(|len| &frame[..len])
}

/// `vtep` as [`VxlanOuter`] takes it: the IPv4 address of an IPv4-mapped VTEP in the first
/// four bytes of an IPv4 header's, else all sixteen (an IPv4-mapped one as such in IPv6).
pub fn on_the_wire(vtep: [u8; 16], v6: bool) -> [u8; 16] {
    if v6 {
        return vtep;
    }
    let mut address = [0; 16];
    address[..4].copy_from_slice(&vtep[12..]);
    address
}

/// A hostile VXLAN frame towards `local` (an IPv4 or IPv6 VTEP) on UDP port `dstport` for
/// `vni`: the headers right or wrong field by field (flags, reserved bits, VNI, port,
/// addresses, IP version, header length, fragments), around a hostile inner frame, then
/// possibly cut short or with bits flipped.
pub fn hostile_vxlan(rng: &mut Rng, local: [u8; 16], v6: bool, dstport: u16, vni: u32) -> Vec<u8> {
    let mut header = VxlanOuter::header(if rng.chance(70) {
        vni
    } else {
        rng.next_u64() as u32 & 0x00ff_ffff
    });
    if rng.chance(20) {
        header[0] = rng.next_u64() as u8;
    }
    if rng.chance(10) {
        let at = rng.pick(&[1, 2, 3, 7]);
        header[at] = rng.next_u64() as u8;
    }
    let mut local = local;
    if rng.chance(20) {
        local[15] ^= 1 + rng.below(255) as u8;
    }
    let v6 = if rng.chance(10) { !v6 } else { v6 };
    let outer = VxlanOuter {
        src: on_the_wire([0x20; 16], v6),
        dst: on_the_wire(local, v6),
        v6,
        dstport: if rng.chance(85) { dstport } else { rng.u16() },
        header,
    };
    let inner = if rng.chance(80) {
        let payload = rng.below(80);
        valid(rng, payload)
    } else {
        hostile_frame(rng)
    };
    let mut frame = outer.wrap(&inner);
    match rng.below(10) {
        0 => {
            let cut = rng.below(frame.len() + 1);
            frame.truncate(cut);
        }
        1 => flip_bits(rng, &mut frame),
        // The IPv4 version and header length, protocol, flags and fragment offset.
        2 if !v6 => {
            let at = rng.pick(&[14, 20, 21, 23]);
            frame[at] = rng.next_u64() as u8;
        }
        _ => {}
    }
    frame
}
