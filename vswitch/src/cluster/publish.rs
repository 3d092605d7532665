//! Publishing: turning the difference between what this node has published and what it should
//! publish into batched etcd transactions, so that a burst of learning costs a few round trips
//! rather than one per station.

use std::collections::BTreeMap;

/// Writes per transaction; etcd refuses more than 128 operations in one (`--max-txn-ops`).
pub const MAX_BATCH: usize = 64;

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Store `value` under `key`, with the node's lease.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Delete `key`, but only while it still holds `expected`: when another node took the key
    /// over (a station that moved there), its record is not this node's to delete.
    Delete {
        /// The key.
        key: String,
        /// The value this node wrote.
        expected: String,
    },
}

/// The batches that turn `published` into `desired`: puts of what is new or changed, deletes of
/// what is gone, at most [`MAX_BATCH`] writes each.
pub fn plan(
    published: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Vec<Vec<Write>> {
    let puts = desired
        .iter()
        .filter(|(key, value)| published.get(*key) != Some(*value))
        .map(|(key, value)| Write::Put {
            key: key.clone(),
            value: value.clone(),
        });
    let deletes = published
        .iter()
        .filter(|(key, _)| !desired.contains_key(*key))
        .map(|(key, value)| Write::Delete {
            key: key.clone(),
            expected: value.clone(),
        });
    batches(puts.chain(deletes))
}

/// The batches of a new session, whose lease may be new: every desired record is written again
/// (so that all of them hang on the current lease), and what etcd still holds of this node's
/// (`existing`) that is no longer desired is deleted.
pub fn resync(
    existing: &BTreeMap<String, String>,
    desired: &BTreeMap<String, String>,
) -> Vec<Vec<Write>> {
    let stale: BTreeMap<String, String> = existing
        .iter()
        .filter(|(key, _)| !desired.contains_key(*key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let mut batches = plan(&BTreeMap::new(), desired);
    batches.extend(plan(&stale, &BTreeMap::new()));
    batches
}

fn batches(writes: impl Iterator<Item = Write>) -> Vec<Vec<Write>> {
    let writes: Vec<Write> = writes.collect();
    writes.chunks(MAX_BATCH).map(<[Write]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_string(), (*value).to_string()))
            .collect()
    }

    #[test]
    fn only_the_difference_is_written() {
        let published = map(&[("a", "1"), ("b", "1"), ("c", "1")]);
        let desired = map(&[("a", "1"), ("b", "2"), ("d", "1")]);
        assert_eq!(
            plan(&published, &desired),
            vec![vec![
                Write::Put {
                    key: "b".into(),
                    value: "2".into()
                },
                Write::Put {
                    key: "d".into(),
                    value: "1".into()
                },
                Write::Delete {
                    key: "c".into(),
                    expected: "1".into()
                },
            ]]
        );
        assert!(plan(&desired, &desired).is_empty());
    }

    #[test]
    fn a_burst_is_cut_into_few_batches() {
        let desired: BTreeMap<String, String> = (0..1000)
            .map(|index| (format!("k{index:04}"), "v".to_string()))
            .collect();
        let batches = plan(&BTreeMap::new(), &desired);
        assert_eq!(batches.len(), 1000usize.div_ceil(MAX_BATCH));
        assert!(batches.iter().all(|batch| batch.len() <= MAX_BATCH));
        assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 1000);
    }

    #[test]
    fn a_new_session_rewrites_everything_and_removes_leftovers() {
        let existing = map(&[("a", "1"), ("old", "1")]);
        let desired = map(&[("a", "1"), ("b", "1")]);
        let writes: Vec<Write> = resync(&existing, &desired).concat();
        assert_eq!(
            writes,
            vec![
                Write::Put {
                    key: "a".into(),
                    value: "1".into()
                },
                Write::Put {
                    key: "b".into(),
                    value: "1".into()
                },
                Write::Delete {
                    key: "old".into(),
                    expected: "1".into()
                },
            ]
        );
    }
}
