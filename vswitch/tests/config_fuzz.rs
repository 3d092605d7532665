//! Fuzzing the configuration parser and validator: every input is accepted, or refused with a
//! located `FILE:LINE: reason`, never a panic; through the library and through `vswitch check`
//! (exit 0 or 2).
//!
//! The inputs are the README's and the demo's example configs, a few more shaped like the test
//! suites' own, mutated line by line and value by value, and arbitrary text. proptest prints
//! the failing input (shrunk); `PROPTEST_CASES` raises the count (`cargo xtask test --long`).

use std::{path::Path, process::Command};

use proptest::{prelude::*, test_runner::TestRunner};
use vswitch::config::{Config, ConfigError};

/// Configs shaped like the suites' (`tests/src/lab.rs`, `overlay.rs`, `dispatch.rs`).
const SUITE_CONFIGS: [&str; 3] = [
    "[switch]\nageing_secs = 300\n\n[[port]]\nname = \"vt1-2p\"\nnetns = \"vt1-3h\"\n\
     address = [\"10.77.0.1/24\"]\nvlan = 1\n\n[[port]]\nname = \"vt1-4p\"\nnetns = \"vt1-5h\"\n\
     trunk = [10, 20]\nnative_vlan = 1\nhook = \"xdp\"\n",
    "[[port]]\nname = \"p1\"\nnetns = \"h1\"\n\n[[vxlan]]\nvni = 100\nlocal = \"fd00::1\"\n\
     remotes = [\"fd00::2\", \"fd00::3\"]\nunderlay = \"u0\"\ndstport = 4789\nlearning = false\n",
    "[[ipvlan]]\nparent = \"u0\"\nchildren = [ { name = \"c1\", netns = \"n1\", \
     address = [\"192.168.0.9/24\"] } ]\n\n[[macvlan]]\nparent = \"u1\"\nmode = \"source\"\n\
     children = [ { name = \"c2\", netns = \"n2\", allowed_sources = [\"02:00:00:00:00:01\"] } ]\n",
];

/// The example configs: the README's TOML blocks, the demo's, and [`SUITE_CONFIGS`].
fn examples() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in readme.lines() {
        match (&mut block, line.trim_start()) {
            (None, "```toml") => block = Some(String::new()),
            (Some(_), "```") => examples.extend(block.take()),
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(
        examples.len() >= 3,
        "the README's TOML blocks were not found"
    );
    examples.push(include_str!("../src/config/demo.toml").to_string());
    examples.extend(SUITE_CONFIGS.map(String::from));
    examples
}

/// Values a key may be given: edge numbers, hostile strings, wrong types.
const VALUES: [&str; 24] = [
    "0",
    "1",
    "-1",
    "4094",
    "4095",
    "65536",
    "16777216",
    "9223372036854775807",
    "99999999999999999999",
    "1.5",
    "true",
    "\"\"",
    "\"vt-0123456789abcdef\"",
    "\"a.b\"",
    "\"../../etc\"",
    "\"\\u0000\"",
    "\"ä€😀\"",
    "\"300.0.0.1\"",
    "\"::ffff:192.0.2.1\"",
    "[]",
    "[1, \"two\"]",
    "{ name = \"x\" }",
    "1979-05-27T07:32:00Z",
    "\"02:00:00:00:00:01\"",
];

/// Lines that may be inserted anywhere.
const LINES: [&str; 10] = [
    "[switch]",
    "[[port]]",
    "[[vxlan]]",
    "[[macvlan]]",
    "[[device]]",
    "name = \"p1\"",
    "max_macs = 10",
    "unknown = 1",
    "[port",
    "\"",
];

/// One edit of a config's lines.
#[derive(Clone, Debug)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Replace the value of the line's `key = value`.
    Value(usize, usize),
    Insert(usize, usize),
    /// Cut the text at a fraction (in thousandths) of its length.
    Truncate(usize),
}

fn an_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), 0..VALUES.len()).prop_map(|(at, value)| Edit::Value(at, value)),
        (any::<usize>(), 0..LINES.len()).prop_map(|(at, line)| Edit::Insert(at, line)),
        (0usize..1000).prop_map(Edit::Truncate),
    ]
}

/// `text` with `edits` applied.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for edit in edits {
        let len = lines.len().max(1);
        match *edit {
            Edit::Delete(at) if !lines.is_empty() => {
                lines.remove(at % len);
            }
            Edit::Duplicate(at) if !lines.is_empty() => {
                let line = lines[at % len].clone();
                lines.insert(at % len, line);
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % len, b % len),
            Edit::Value(at, value) if !lines.is_empty() => {
                let line = &mut lines[at % len];
                if let Some(equals) = line.find('=') {
                    line.truncate(equals + 1);
                    line.push(' ');
                    line.push_str(VALUES[value]);
                }
            }
            Edit::Insert(at, line) => lines.insert(at % (lines.len() + 1), LINES[line].into()),
            Edit::Truncate(thousandths) => {
                let mut joined = lines.join("\n");
                let mut cut = joined.len() * thousandths / 1000;
                while !joined.is_char_boundary(cut) {
                    cut -= 1;
                }
                joined.truncate(cut);
                lines = joined.lines().map(String::from).collect();
            }
            Edit::Delete(_) | Edit::Duplicate(_) | Edit::Swap(..) | Edit::Value(..) => {}
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn a_config() -> impl Strategy<Value = String> {
    let examples = examples();
    let mutated = (
        0..examples.len(),
        proptest::collection::vec(an_edit(), 0..6),
    )
        .prop_map(move |(index, edits)| mutate(&examples[index], &edits));
    prop_oneof![8 => mutated, 1 => any::<String>(), 1 => "[a-z_\\[\\]=\" 0-9\n.]{0,200}"]
}

/// Checks that `text` parses, or is refused at a line it has.
fn located(text: &str) -> Result<(), TestCaseError> {
    let path = Path::new("/fuzz/vswitch.toml");
    match Config::parse(path, text) {
        Ok(_) => {}
        Err(ConfigError::Invalid {
            path: at,
            line,
            reason,
        }) => {
            prop_assert_eq!(at.as_path(), path);
            prop_assert!(
                (1..=text.lines().count() + 1).contains(&line),
                "line {line} of a {}-line file: {reason}",
                text.lines().count()
            );
            prop_assert!(!reason.is_empty());
        }
        Err(other @ ConfigError::Read { .. }) => prop_assert!(false, "{other}"),
    }
    Ok(())
}

proptest! {
    #[test]
    fn every_config_is_accepted_or_refused_at_a_line(text in a_config()) {
        located(&text)?;
    }
}

#[test]
fn the_examples_themselves_are_valid() {
    for example in examples() {
        let parsed = Config::parse(Path::new("example.toml"), &example);
        assert!(parsed.is_ok(), "{parsed:?}\n{example}");
    }
}

#[test]
fn vswitch_check_exits_0_or_2_with_a_located_message() {
    let dir = std::env::temp_dir().join(format!("vswitch-config-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the directory");
    let file = dir.join("fuzz.toml");
    let shown = file.display().to_string();
    let mut runner = TestRunner::default();
    let outcome = runner.run(&a_config(), |text| {
        std::fs::write(&file, &text).expect("writing the config");
        let output = Command::new(env!("CARGO_BIN_EXE_vswitch"))
            .args(["check", "--config", &shown])
            .output()
            .expect("running vswitch check");
        let stderr = String::from_utf8_lossy(&output.stderr);
        prop_assert!(!stderr.contains("panicked"), "{stderr}");
        match output.status.code() {
            Some(0) => prop_assert!(stderr.is_empty(), "{stderr}"),
            Some(2) => {
                let message = stderr.trim_start_matches("vswitch: ");
                let line = message
                    .strip_prefix(&format!("{shown}:"))
                    .and_then(|rest| rest.split_once(": "))
                    .and_then(|(line, _)| line.parse::<usize>().ok());
                prop_assert!(line.is_some(), "not FILE:LINE: reason: {stderr}");
            }
            other => prop_assert!(false, "exit {other:?}: {stderr}"),
        }
        Ok(())
    });
    std::fs::remove_dir_all(&dir).expect("removing the directory");
    if let Err(error) = outcome {
        panic!("{error}");
    }
}
