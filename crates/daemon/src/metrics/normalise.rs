//! Scope messages made into metric labels: the variable parts replaced, so
//! that "fetch user 42" and "fetch user 43" count as one kind of scope.

/// Longest normalised message kept as a label value; longer ones are cut
/// (at a char boundary) so one odd message cannot make a huge series.
const MAX_LEN: usize = 200;

/// Replaces quoted strings with `<str>`, UUIDs with `<uuid>`, numbers with
/// `<n>` and long hex words (hashes, ids) with `<hex>`.
pub fn normalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_LEN));
    let mut chars = message.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c == '"' || c == '\'' {
            // A quote opens a string only where a word could start, so that
            // "don't" keeps its apostrophe.
            let opens = out.chars().last().is_none_or(|p| !p.is_alphanumeric());
            if opens {
                if let Some(end) = message[start + 1..].find(c) {
                    out.push_str("<str>");
                    let stop = start + 1 + end;
                    while chars.peek().is_some_and(|(i, _)| *i <= stop) {
                        chars.next();
                    }
                    continue;
                }
            }
            out.push(c);
        } else if is_word(c) {
            let mut end = start + c.len_utf8();
            while let Some(&(i, n)) = chars.peek() {
                if !is_word(n) {
                    break;
                }
                end = i + n.len_utf8();
                chars.next();
            }
            out.push_str(word(&message[start..end]));
        } else {
            out.push(c);
        }
        if out.len() >= MAX_LEN {
            break;
        }
    }
    if out.len() > MAX_LEN {
        let mut cut = MAX_LEN;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

fn word(w: &str) -> &str {
    if is_uuid(w) {
        return "<uuid>";
    }
    let body = w.trim_end_matches(['.', ':']);
    if body.is_empty() {
        return w;
    }
    let numeric = body.trim_start_matches(['-', '+']);
    if !numeric.is_empty()
        && numeric.starts_with(|c: char| c.is_ascii_digit())
        && numeric
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '_' | ':' | '-'))
    {
        return "<n>";
    }
    if body.len() >= 8
        && body.chars().all(|c| c.is_ascii_hexdigit())
        && body.chars().any(|c| c.is_ascii_digit())
    {
        return "<hex>";
    }
    w
}

fn is_uuid(w: &str) -> bool {
    let parts: Vec<&str> = w.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn variable_parts_are_replaced() {
        assert_eq!(normalise("fetch user 42"), "fetch user <n>");
        assert_eq!(normalise("fetch user 43"), "fetch user <n>");
        assert_eq!(normalise("took 1.5 s"), "took <n> s");
        assert_eq!(normalise("open 'a b.txt' now"), "open <str> now");
        assert_eq!(normalise(r#"key "x""#), "key <str>");
        assert_eq!(
            normalise("task e252a11f-d33d-483d-ba08-bc8f642b2f10 done"),
            "task <uuid> done"
        );
        assert_eq!(normalise("commit 6a67700f"), "commit <hex>");
        assert_eq!(normalise("at 12:30:01"), "at <n>");
        assert_eq!(normalise("item -3."), "item <n>");
    }

    #[test]
    fn words_stay() {
        assert_eq!(normalise("don't stop"), "don't stop");
        assert_eq!(normalise("subtask done"), "subtask done");
        assert_eq!(normalise("v2 api"), "v2 api");
        assert_eq!(normalise("deadbeef"), "deadbeef");
        assert_eq!(normalise("unclosed 'quote"), "unclosed 'quote");
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "é".repeat(500);
        let n = normalise(&long);
        assert!(n.len() <= 200);
    }
}
