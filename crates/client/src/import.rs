//! Continuing another process's subtask slot, and checking its id.

use distlog_proto::{KeyError, ScopeId};

use crate::{Error, TaskBuilder};

/// Continues, in this process, a slot that [`Task::get_foreign_task`]
/// handed out elsewhere (in any language), so both land in one tree.
/// The id must be a scope id by the protocol's own grammar (the one
/// `distlogd` parses keys with), so what we send is never a key it rejects.
pub fn import_task(id: &str, message: impl Into<String>) -> Result<TaskBuilder, Error> {
    let scope = ScopeId::parse(id).map_err(|e| Error::BadTaskId {
        id: id.to_owned(),
        problem: id_problem(id, &e),
    })?;
    Ok(crate::scope::imported(scope.to_string(), message))
}

/// The grammar's verdict, made specific: its `BadRoot` covers several
/// reasons, and the one that applies is what the user needs to hear.
fn id_problem(id: &str, error: &KeyError) -> String {
    let root = id.split('/').next().unwrap_or_default();
    match error {
        KeyError::BadRoot(_) => {
            if root.is_empty() {
                "the root id is empty".to_owned()
            } else if let Some(c) = root.chars().find(|c| c.is_whitespace() || c.is_control()) {
                format!("the root id contains {c:?}; white space and control characters are not allowed")
            } else if root.contains('@') {
                "the root id contains '@', which separates a key's sequence number".to_owned()
            } else {
                format!(
                    "the root id is {} bytes long; at most 128 are allowed",
                    root.len()
                )
            }
        }
        KeyError::BadStep(_) => {
            "each step after the root must be a subtask number from 1 up (…/1/3)".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "e252a11f-d33d-483d-ba08-bc8f642b2f10";

    fn problem(id: &str) -> String {
        match import_task(id, "part") {
            Ok(_) => panic!("{id:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn ids_with_tabs_or_control_characters_are_refused_with_the_reason() {
        for bad in [
            format!("{U}\t"),
            "e252\ta11f/1".to_owned(),
            format!("{U}\n"),
            "e252\u{7}a11f".to_owned(),
            "e252\u{0}a11f/2".to_owned(),
            "e252 a11f".to_owned(),
        ] {
            let message = problem(&bad);
            assert!(
                message.contains("white space and control characters are not allowed"),
                "{bad:?}: {message}"
            );
            assert!(
                message.contains(&format!("{bad:?}")),
                "names the id: {message}"
            );
        }
    }

    #[test]
    fn every_other_malformed_id_gets_its_own_reason() {
        assert!(problem("").contains("the root id is empty"));
        assert!(problem("/1").contains("the root id is empty"));
        assert!(problem("0@abc").contains("'@'"));
        assert!(problem(&"x".repeat(129)).contains("129 bytes long"));
        for step in ["/0", "/", "/a", "/+1", "/-1", "/1//2"] {
            let message = problem(&format!("{U}{step}"));
            assert!(
                message.contains("subtask number from 1 up"),
                "{step}: {message}"
            );
        }
        assert!(problem(&format!("{U}{}", "/1".repeat(300))).contains("deeper than"));
    }

    #[test]
    fn well_formed_ids_are_accepted() {
        for good in [U.to_owned(), format!("{U}/3/1"), "c0ffee".to_owned()] {
            assert!(import_task(&good, "part").is_ok(), "{good}");
        }
    }
}
