//! `vswitch fdb add --file FILE`: static entries from a file of `MAC VLAN PORT` lines, checked
//! here and by the agent before any is written, then written with batched map updates.

use std::path::Path;

use vswitch::control::{self, FdbFileChunk, FdbLine, MAX_MESSAGE};

use super::{EXIT_USAGE, Failure};

/// Room left in each request for everything around the entries.
const ENVELOPE: usize = 1024;

/// Reads `path`, has the agent of instance `name` check every entry, then add them all.
pub async fn add(name: &str, path: &Path) -> Result<(), Failure> {
    let file = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|error| usage(format!("reading {file}: {error}")))?;
    let entries = parse(&file, &text).map_err(usage)?;
    for check_only in [true, false] {
        for chunk in chunks(&file, &entries, check_only) {
            control::call(name, control::Command::FdbAddFile(chunk))
                .await
                .map_err(|error| Failure {
                    code: error.exit_code(),
                    error: error.into(),
                })?;
        }
    }
    println!("added {} static FDB entries from {file}", entries.len());
    Ok(())
}

fn usage(message: String) -> Failure {
    Failure {
        error: anyhow::anyhow!(message),
        code: EXIT_USAGE,
    }
}

/// The entries of an FDB file's `text`: one `MAC VLAN PORT` per line, `#` starting a comment,
/// blank lines ignored. Every line is checked; the refusal lists each bad one as
/// `FILE:LINE: reason`.
pub fn parse(file: &str, text: &str) -> Result<Vec<FdbLine>, String> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let content = line.split_once('#').map_or(line, |(content, _)| content);
        let fields: Vec<&str> = content.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        match entry(&fields) {
            Ok((mac, vlan, port)) => entries.push(FdbLine(number, mac, vlan, port)),
            Err(reason) => errors.push(format!("{file}:{number}: {reason}")),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors.join("\n"))
    }
}

fn entry(fields: &[&str]) -> Result<(String, u16, String), String> {
    let [mac, vlan, port] = fields else {
        return Err(format!(
            "{} fields where MAC VLAN PORT are three",
            fields.len()
        ));
    };
    if vswitch_common::mac::parse(mac).is_none() {
        return Err(format!("{mac:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"));
    }
    let vlan = vlan
        .parse::<u16>()
        .ok()
        .filter(|vlan| (1..=4094).contains(vlan))
        .ok_or_else(|| format!("VLAN {vlan:?} is not a number from 1 to 4094"))?;
    vswitch::config::check_ifname(port)?;
    Ok(((*mac).to_string(), vlan, (*port).to_string()))
}

/// `entries` in requests that each fit [`MAX_MESSAGE`].
pub fn chunks(file: &str, entries: &[FdbLine], check_only: bool) -> Vec<FdbFileChunk> {
    let budget = MAX_MESSAGE - ENVELOPE - file.len();
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut size = 0;
    for entry in entries {
        let length = serde_json::to_string(entry).map_or(0, |text| text.len()) + 1;
        if size + length > budget && !current.is_empty() {
            chunks.push(std::mem::take(&mut current));
            size = 0;
        }
        current.push(entry.clone());
        size += length;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
        .into_iter()
        .map(|entries| FdbFileChunk {
            file: file.to_string(),
            check_only,
            entries,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_blanks() {
        let text =
            "# stations\n02:00:00:00:00:01 10 vp1  # the router\n\n06:be:00:00:00:02 1 vp2\n";
        let entries = parse("f", text).unwrap();
        assert_eq!(
            entries,
            [
                FdbLine(2, "02:00:00:00:00:01".into(), 10, "vp1".into()),
                FdbLine(4, "06:be:00:00:00:02".into(), 1, "vp2".into()),
            ]
        );
    }

    #[test]
    fn every_bad_line_is_named() {
        let text = "02:00:00:00:00:01 10\nzz 1 vp1\n02:00:00:00:00:01 4095 vp1\nok\n";
        let errors = parse("fdb.txt", text).unwrap_err();
        let lines: Vec<&str> = errors.lines().collect();
        assert_eq!(lines.len(), 4, "{errors}");
        assert!(lines[0].starts_with("fdb.txt:1: 2 fields"), "{errors}");
        assert!(
            lines[1].starts_with("fdb.txt:2: \"zz\" is not a MAC"),
            "{errors}"
        );
        assert!(lines[2].starts_with("fdb.txt:3: VLAN \"4095\""), "{errors}");
    }

    #[test]
    fn chunks_fit_a_message() {
        let entries: Vec<FdbLine> = (0..10_000)
            .map(|n| {
                FdbLine(
                    n,
                    "06:be:00:00:00:00".into(),
                    4094,
                    "a-long-port-nam".into(),
                )
            })
            .collect();
        let chunks = chunks("f", &entries, false);
        assert!(chunks.len() > 1);
        let total: usize = chunks.iter().map(|chunk| chunk.entries.len()).sum();
        assert_eq!(total, entries.len());
        for chunk in chunks {
            let request = control::Request::new(control::Command::FdbAddFile(chunk));
            assert!(control::protocol::encode(&request).len() <= MAX_MESSAGE);
        }
    }
}
