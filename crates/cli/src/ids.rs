//! Short ids: the UI shows the first 8 characters of a root id, so the
//! command takes any unique start of one, alone or inside a scope id
//! (`1844aa91/1/3`) or a key (`2@1844aa91/1`).

use std::fmt::Write as _;

use anyhow::{bail, Result};
use serde_json::Value;

use crate::client::Client;
use crate::timefmt;

/// How many candidates to fetch: enough to list, few enough to read.
const CANDIDATES: usize = 20;

/// An id as typed, split into `seq@`, the root and `/n/…`.
struct Parts<'a> {
    head: &'a str,
    root: &'a str,
    tail: &'a str,
}

fn split(id: &str) -> Parts<'_> {
    let (head, rest) = match id.find('@') {
        Some(at) => id.split_at(at + 1),
        None => ("", id),
    };
    let (root, tail) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    Parts { head, root, tail }
}

/// A whole UUID (`8-4-4-4-12` hex digits), as every shipped client makes:
/// no need to ask which task it starts.
fn is_whole_uuid(root: &str) -> bool {
    let groups: Vec<&str> = root.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the typed root names, given the tasks whose root starts with it.
#[derive(Debug, PartialEq)]
enum Choice {
    One(String),
    None,
}

fn choose(prefix: &str, tasks: &[Value]) -> Result<Choice> {
    let lower = prefix.to_ascii_lowercase();
    // An older daemon ignores `root_prefix`: filter here as well.
    let matching: Vec<&Value> = tasks
        .iter()
        .filter(|t| {
            t["root"]
                .as_str()
                .is_some_and(|r| r.to_ascii_lowercase().starts_with(&lower))
        })
        .collect();
    if let Some(exact) = matching.iter().find(|t| t["root"] == prefix) {
        return Ok(Choice::One(
            exact["root"].as_str().unwrap_or(prefix).to_owned(),
        ));
    }
    match matching.as_slice() {
        [] => Ok(Choice::None),
        [one] => Ok(Choice::One(
            one["root"].as_str().unwrap_or(prefix).to_owned(),
        )),
        many => {
            let count = if many.len() >= CANDIDATES {
                format!("at least {}", many.len())
            } else {
                many.len().to_string()
            };
            let mut text =
                format!("{prefix:?} starts {count} task ids; give more of the id, one of:");
            for t in many {
                let started = t["started"]
                    .as_f64()
                    .map(timefmt::datetime)
                    .unwrap_or_else(|| "-".into());
                let message = t["message"]
                    .as_str()
                    .unwrap_or("(opening record not received)");
                let _ = write!(
                    text,
                    "\n  {}  {started}  {message}",
                    t["root"].as_str().unwrap_or("?")
                );
            }
            bail!(text)
        }
    }
}

/// The id with its root made whole. `Ok(None)` means no task's root starts
/// with it: the caller may still try it as it is.
pub fn resolve(client: &Client, id: &str) -> Result<Option<String>> {
    let parts = split(id);
    if parts.root.is_empty() {
        bail!(
            "{id:?} has no root id: give a task id, a scope id (`<root>/1`) or a key (`2@<root>`)"
        );
    }
    if is_whole_uuid(parts.root) {
        return Ok(Some(id.to_owned()));
    }
    let answer = client.get(
        "/api/tasks",
        &[
            ("root_prefix", parts.root.to_owned()),
            ("limit", CANDIDATES.to_string()),
        ],
    )?;
    let tasks = answer["tasks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    Ok(match choose(parts.root, tasks)? {
        Choice::One(root) => Some(format!("{}{root}{}", parts.head, parts.tail)),
        Choice::None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "1844aa91-0000-4000-8000-000000000001";
    const B: &str = "1844bb00-0000-4000-8000-000000000002";

    fn task(root: &str, message: &str) -> Value {
        json!({"root": root, "message": message, "started": 1524085399.148})
    }

    #[test]
    fn ids_split_into_key_head_root_and_path() {
        let p = split("2@1844aa91/1/3");
        assert_eq!((p.head, p.root, p.tail), ("2@", "1844aa91", "/1/3"));
        let p = split("1844aa91");
        assert_eq!((p.head, p.root, p.tail), ("", "1844aa91", ""));
    }

    #[test]
    fn only_a_whole_uuid_skips_the_lookup() {
        assert!(is_whole_uuid(A));
        assert!(!is_whole_uuid("1844aa91"));
        assert!(!is_whole_uuid("1844aa91-0000-4000-8000-00000000000"));
        assert!(!is_whole_uuid("zzzzzzzz-0000-4000-8000-000000000001"));
    }

    #[test]
    fn a_unique_prefix_names_its_task() {
        let tasks = [task(A, "payment")];
        assert_eq!(
            choose("1844AA", &tasks).expect("one"),
            Choice::One(A.into())
        );
    }

    #[test]
    fn an_ambiguous_prefix_lists_every_candidate() {
        let tasks = [task(A, "payment"), task(B, "refund")];
        let err = choose("1844", &tasks).expect_err("ambiguous").to_string();
        assert!(err.contains("starts 2 task ids"), "{err}");
        assert!(err.contains(A) && err.contains("payment"), "{err}");
        assert!(err.contains(B) && err.contains("refund"), "{err}");
        assert!(err.contains("2018-04-18 21:03:19.148Z"), "{err}");
    }

    #[test]
    fn an_exact_root_wins_over_longer_ones_it_starts() {
        let tasks = [task("job-1", "a"), task("job-10", "b")];
        assert_eq!(
            choose("job-1", &tasks).expect("exact"),
            Choice::One("job-1".into())
        );
    }

    #[test]
    fn tasks_that_do_not_start_with_the_prefix_are_no_match() {
        let tasks = [task(B, "refund")];
        assert_eq!(choose("1844aa", &tasks).expect("none"), Choice::None);
    }
}
