//! The key grammar: `<seq>@<root>[/<n>]*`.
//!
//! `root` is the root task's id (a UUID in every client we ship); each `/<n>`
//! descends to the n-th subtask (counting from 1) of the scope before it.

use std::fmt;

/// The longest root id we accept; UUIDs are 36 characters.
const MAX_ROOT_LEN: usize = 128;
/// Deeper scope paths than this are almost certainly hostile.
const MAX_PATH_DEPTH: usize = 256;

/// Why a key or scope id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key {0:?} has no '@' between sequence number and scope id")]
    MissingAt(String),
    #[error("key {0:?} has a sequence number that is not a non-negative integer")]
    BadSeq(String),
    #[error("scope id {0:?} has an empty or over-long root id")]
    BadRoot(String),
    #[error("scope id {0:?} has a subtask number that is not a positive integer")]
    BadStep(String),
    #[error("scope id {0:?} is nested deeper than {MAX_PATH_DEPTH} levels")]
    TooDeep(String),
}

/// A scope: the root task plus the path of subtask numbers below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId {
    pub root: String,
    pub path: Vec<u32>,
}

impl ScopeId {
    pub fn parse(text: &str) -> Result<ScopeId, KeyError> {
        let mut parts = text.split('/');
        let root = parts.next().unwrap_or_default();
        if root.is_empty()
            || root.len() > MAX_ROOT_LEN
            || root.contains('@')
            || root.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(KeyError::BadRoot(text.to_owned()));
        }
        let mut path = Vec::new();
        for step in parts {
            if path.len() == MAX_PATH_DEPTH {
                return Err(KeyError::TooDeep(text.to_owned()));
            }
            match step.parse::<u32>() {
                Ok(n) if n > 0 && !step.starts_with('+') => path.push(n),
                _ => return Err(KeyError::BadStep(text.to_owned())),
            }
        }
        Ok(ScopeId {
            root: root.to_owned(),
            path,
        })
    }

    /// The scope this one is a subtask of, or `None` for a root task.
    pub fn parent(&self) -> Option<ScopeId> {
        let mut path = self.path.clone();
        path.pop()?;
        Some(ScopeId {
            root: self.root.clone(),
            path,
        })
    }

    /// The path below the root as text: `""` for the root, `"/1/3"` below it.
    pub fn path_text(&self) -> String {
        use fmt::Write;
        let mut out = String::new();
        for n in &self.path {
            let _ = write!(out, "/{n}");
        }
        out
    }

    pub fn depth(&self) -> usize {
        self.path.len()
    }
}

impl fmt::Display for ScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.root)?;
        for n in &self.path {
            write!(f, "/{n}")?;
        }
        Ok(())
    }
}

/// One record's place in the tree: the `seq`-th record of `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub seq: u64,
    pub scope: ScopeId,
}

impl Key {
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let (seq, scope) = text
            .split_once('@')
            .ok_or_else(|| KeyError::MissingAt(text.to_owned()))?;
        if seq.starts_with('+') {
            return Err(KeyError::BadSeq(text.to_owned()));
        }
        let seq = seq
            .parse::<u64>()
            .map_err(|_| KeyError::BadSeq(text.to_owned()))?;
        Ok(Key {
            seq,
            scope: ScopeId::parse(scope)?,
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.seq, self.scope)
    }
}

/// Something a user typed to name a tree: a root id, a scope id or a key.
/// All three lead to the same root; the scope narrows what to show.
pub fn parse_any(text: &str) -> Result<(ScopeId, Option<u64>), KeyError> {
    if text.contains('@') {
        let key = Key::parse(text)?;
        Ok((key.scope, Some(key.seq)))
    } else {
        Ok((ScopeId::parse(text)?, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "e252a11f-d33d-483d-ba08-bc8f642b2f10";

    #[test]
    fn the_tutorial_keys_parse() {
        let k = Key::parse(&format!("0@{U}")).expect("root key");
        assert_eq!(
            (k.seq, k.scope.root.as_str(), k.scope.path.len()),
            (0, U, 0)
        );
        let k = Key::parse(&format!("2@{U}/1")).expect("subtask key");
        assert_eq!((k.seq, k.scope.path.clone()), (2, vec![1]));
        let k = Key::parse(&format!("17@{U}/1/3/12")).expect("deep key");
        assert_eq!(k.scope.path, vec![1, 3, 12]);
        assert_eq!(k.to_string(), format!("17@{U}/1/3/12"));
    }

    #[test]
    fn parent_walks_up_one_level() {
        let s = ScopeId::parse(&format!("{U}/1/3")).expect("scope");
        let p = s.parent().expect("has parent");
        assert_eq!(p.to_string(), format!("{U}/1"));
        assert_eq!(p.parent().expect("root").path_text(), "");
        assert!(p.parent().expect("root").parent().is_none());
        assert_eq!(s.path_text(), "/1/3");
    }

    #[test]
    fn malformed_keys_are_rejected_with_the_reason() {
        assert!(matches!(Key::parse(U), Err(KeyError::MissingAt(_))));
        assert!(matches!(
            Key::parse(&format!("x@{U}")),
            Err(KeyError::BadSeq(_))
        ));
        assert!(matches!(
            Key::parse(&format!("-1@{U}")),
            Err(KeyError::BadSeq(_))
        ));
        assert!(matches!(
            Key::parse(&format!("+1@{U}")),
            Err(KeyError::BadSeq(_))
        ));
        assert!(matches!(Key::parse("0@"), Err(KeyError::BadRoot(_))));
        assert!(matches!(Key::parse("0@/1"), Err(KeyError::BadRoot(_))));
        assert!(matches!(
            Key::parse(&format!("0@{U}/0")),
            Err(KeyError::BadStep(_))
        ));
        assert!(matches!(
            Key::parse(&format!("0@{U}/")),
            Err(KeyError::BadStep(_))
        ));
        assert!(matches!(
            Key::parse(&format!("0@{U}/a")),
            Err(KeyError::BadStep(_))
        ));
        assert!(matches!(Key::parse("0@a@b"), Err(KeyError::BadRoot(_))));
        let deep = format!("0@{U}{}", "/1".repeat(MAX_PATH_DEPTH + 1));
        assert!(matches!(Key::parse(&deep), Err(KeyError::TooDeep(_))));
    }

    #[test]
    fn parse_any_accepts_root_scope_or_key() {
        assert_eq!(parse_any(U).expect("root").0.path.len(), 0);
        assert_eq!(parse_any(&format!("{U}/2")).expect("scope").0.path, vec![2]);
        assert_eq!(parse_any(&format!("5@{U}/2")).expect("key").1, Some(5));
    }
}
