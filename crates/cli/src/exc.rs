//! The one line that says what went wrong, out of a record's `exc_text`.
//!
//! Python sends a whole traceback, whose exception line (`KeyError: 'card'`)
//! comes after the frames; the Rust client sends an error's `Display` text
//! or a panic message. A failure line shows this summary so that nobody has
//! to read the traceback to learn which exception it was.

/// The exception type and message (`KeyError: 'card'`), or for text that is
/// not a Python traceback, its first meaningful line. `None` when blank.
pub fn summary(exc_text: &str) -> Option<String> {
    let lines: Vec<&str> = exc_text.lines().collect();
    if let Some(found) = python_exception(&lines) {
        return Some(found);
    }
    if let Some(found) = rust_panic(&lines) {
        return Some(found);
    }
    let first = lines.iter().map(|l| l.trim()).find(|l| !l.is_empty())?;
    Some(with_more_mark(first, lines.len() > 1))
}

/// After the last `Traceback (most recent call last):` header, the frames
/// are indented; the first line that is not starts the exception (a
/// message may run over several lines: its first one is shown).
fn python_exception(lines: &[&str]) -> Option<String> {
    let (start, prefix) = lines.iter().enumerate().rev().find_map(|(i, line)| {
        let plain = line.trim_start();
        if plain == "Traceback (most recent call last):" {
            Some((i, ""))
        } else if let Some(rest) = plain.strip_prefix("+ Exception Group Traceback") {
            // Exception groups draw their frames inside `| ` margins.
            rest.starts_with(" (most recent call last):")
                .then_some((i, "|"))
        } else {
            None
        }
    })?;
    let margin = lines[start].len() - lines[start].trim_start().len();
    for line in &lines[start + 1..] {
        let inner = match prefix {
            "" => *line,
            _ => {
                let body = line.get(margin..).unwrap_or("");
                match body.trim_start().strip_prefix('|') {
                    Some(inner) => inner.strip_prefix(' ').unwrap_or(inner),
                    None => continue,
                }
            }
        };
        if !inner.is_empty() && !inner.starts_with(char::is_whitespace) {
            return Some(inner.trim_end().to_owned());
        }
    }
    None
}

/// `thread 'main' panicked at src/main.rs:4:5:` followed by the message
/// (Rust 1.73 and later), or the older `panicked at 'message', src/…`.
fn rust_panic(lines: &[&str]) -> Option<String> {
    let at = lines.iter().position(|l| l.contains("panicked at "))?;
    let head = lines[at];
    let after = &head[head.find("panicked at ")? + "panicked at ".len()..];
    if let Some(quoted) = after.strip_prefix('\'') {
        let message = quoted.rsplit_once("', ").map_or(quoted, |(m, _)| m);
        return Some(format!("panicked: {message}"));
    }
    let message = lines[at + 1..]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with("note: "))?;
    Some(format!("panicked: {message}"))
}

fn with_more_mark(line: &str, more: bool) -> String {
    if more {
        format!("{line} …")
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn a_python_traceback_gives_its_exception_line() {
        let tb = "Traceback (most recent call last):\n  File \"pay.py\", line 9, in charge\n    \
                  card = order['card']\n           ~~~~~^^^^^^^^\nKeyError: 'card'";
        assert_eq!(summary(tb).as_deref(), Some("KeyError: 'card'"));
    }

    #[test]
    fn a_chained_traceback_gives_the_last_exception() {
        let tb = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n\
                  KeyError: 'card'\n\nDuring handling of the above exception, another exception \
                  occurred:\n\nTraceback (most recent call last):\n  File \"a.py\", line 3, in f\n\
                  RuntimeError: payment failed";
        assert_eq!(summary(tb).as_deref(), Some("RuntimeError: payment failed"));
    }

    #[test]
    fn a_message_over_several_lines_gives_its_first_line() {
        let tb = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n\
                  ValueError: bad input\nsecond line of the message\n";
        assert_eq!(summary(tb).as_deref(), Some("ValueError: bad input"));
    }

    #[test]
    fn an_exception_group_gives_the_group_line() {
        let tb = "  + Exception Group Traceback (most recent call last):\n  |   File \"a.py\", \
                  line 2, in <module>\n  |     raise ExceptionGroup('many', [ValueError(1)])\n  \
                  | ExceptionGroup: many (1 sub-exception)\n  +-+---------------- 1 \
                  ----------------\n    | ValueError: 1\n    +------------------------------------";
        assert_eq!(
            summary(tb).as_deref(),
            Some("ExceptionGroup: many (1 sub-exception)")
        );
    }

    #[test]
    fn a_rust_panic_message_gives_the_panic_text() {
        let new = "thread 'main' panicked at src/main.rs:4:5:\nindex out of bounds: the len is 1\n\
                   note: run with `RUST_BACKTRACE=1`";
        assert_eq!(
            summary(new).as_deref(),
            Some("panicked: index out of bounds: the len is 1")
        );
        let old = "thread 'main' panicked at 'no card', src/main.rs:4:5";
        assert_eq!(summary(old).as_deref(), Some("panicked: no card"));
    }

    #[test]
    fn a_rust_error_text_is_shown_as_it_is() {
        assert_eq!(
            summary("panicked while this scope was open").as_deref(),
            Some("panicked while this scope was open")
        );
        assert_eq!(
            summary("card declined\n\nCaused by:\n    insufficient funds").as_deref(),
            Some("card declined …")
        );
    }

    #[test]
    fn blank_text_gives_nothing() {
        assert_eq!(summary(""), None);
        assert_eq!(summary("  \n\n"), None);
    }
}
