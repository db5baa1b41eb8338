//! Search terms: how text becomes the token hashes kept in segment block
//! filters, and how a query becomes the hashes to test against them.
//!
//! The hashes are written to disk, so they must never change: XXH3-64 (whose
//! output the xxHash spec fixes since 0.8) with fixed seeds, one seed per
//! domain so that the word `key`, the prefix `key` and a field value `key`
//! never collide by construction. `hashes_are_pinned_because_they_live_on_disk` guards the values.

use unicode_normalization::UnicodeNormalization;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Seeds, one per domain. Changing any of them invalidates every segment.
const WORD_SEED: u64 = 0x6469_7374_6c6f_6701; // "distlog" + 1
const PREFIX_SEED: u64 = 0x6469_7374_6c6f_6702;
const FIELD_SEED: u64 = 0x6469_7374_6c6f_6703;

/// Prefix lengths (in chars) indexed for `word*` queries.
pub const MIN_PREFIX: usize = 3;
pub const MAX_PREFIX: usize = 12;
/// The lengths indexed between them: not every one, which cut the
/// prefixes (most of a block filter's keys) by a third. A query prefix is
/// looked up by the longest indexed length it reaches, which any word it
/// can match has too.
const INDEXED_PREFIXES: [usize; 7] = [3, 4, 5, 6, 8, 10, 12];

/// The longest indexed prefix length at most `n` chars, if any.
fn indexed_prefix_len(n: usize) -> Option<usize> {
    INDEXED_PREFIXES.iter().rev().copied().find(|&l| l <= n)
}
/// Words longer than this (in chars) are hashed by their first
/// `MAX_WORD` chars: a base64 blob must not cost a hash per byte, and
/// queries are truncated the same way, so such words are still found.
pub const MAX_WORD: usize = 64;

/// Letters and digits. `_` splits words, as SQLite's FTS5 did in the old
/// store, so `order` finds `order_lines` (and `order_lines` finds it as
/// the two words `order` and `lines`).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// A word as it is indexed and looked up: lowercased, and without
/// diacritics (`Zürich` → `zurich`), as the old store's FTS5 did.
fn fold(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.is_ascii() {
        return lower;
    }
    lower
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .collect()
}

/// The words of `text`, lowercased, in order (with repeats).
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .map(fold)
}

/// The first `n` chars of `s`.
fn first_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn word_hash(word: &str) -> u64 {
    xxh3_64_with_seed(first_chars(word, MAX_WORD).as_bytes(), WORD_SEED)
}

fn prefix_hash(prefix: &str) -> u64 {
    xxh3_64_with_seed(prefix.as_bytes(), PREFIX_SEED)
}

/// Appends to `out` the hash of every word of `text` and of each word's
/// prefixes of the indexed lengths (3, 4, 5, 6, 8, 10, 12 chars; the whole word included when
/// it is short enough, so `key*` finds `key`). Repeats are not removed.
pub fn tokenize(text: &str, out: &mut Vec<u64>) {
    for word in words(text) {
        out.push(word_hash(&word));
        for (n, (i, c)) in word.char_indices().enumerate().take(MAX_PREFIX) {
            if INDEXED_PREFIXES.contains(&(n + 1)) {
                out.push(prefix_hash(&word[..i + c.len_utf8()]));
            }
        }
    }
}

/// The hash of an exact field term (`host=web-1`, `logger=app.db`); values
/// are compared as given, case included.
pub fn field_token(field: &str, value: &str) -> u64 {
    // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    let mut buf = Vec::with_capacity(4 + field.len() + value.len());
    buf.extend_from_slice(&(field.len() as u32).to_le_bytes());
    buf.extend_from_slice(field.as_bytes());
    buf.extend_from_slice(value.as_bytes());
    xxh3_64_with_seed(&buf, FIELD_SEED)
}

/// Appends the `logger` field token of `logger` and of each dotted ancestor
/// (`a`, `a.b`, `a.b.c`), so a query for `a.b` finds its children's records.
pub fn logger_tokens(logger: &str, out: &mut Vec<u64>) {
    for (i, _) in logger.match_indices('.') {
        out.push(field_token("logger", &logger[..i]));
    }
    out.push(field_token("logger", logger));
}

/// One search term, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Matches a whole word.
    Word(String),
    /// Matches any word that starts with it.
    Prefix(String),
}

/// Splits a query into terms: whitespace-separated words, where a trailing
/// `*` makes a prefix (`Key*`). Punctuation splits a word as [`tokenize`]
/// does, so `KeyError:` looks for `keyerror` and `a.b*` for `a` and `b*`.
pub fn parse_query(q: &str) -> Vec<Term> {
    let mut terms = Vec::new();
    for chunk in q.split_whitespace() {
        let stripped = chunk.trim_end_matches('*');
        let is_prefix = stripped.len() != chunk.len();
        let mut parts: Vec<String> = words(stripped).collect();
        let last = if is_prefix { parts.pop() } else { None };
        terms.extend(parts.into_iter().map(Term::Word));
        // `foo:*` ends in punctuation: the star applies to nothing.
        if let Some(w) = last {
            terms.push(if stripped.ends_with(is_word_char) {
                Term::Prefix(w)
            } else {
                Term::Word(w)
            });
        }
    }
    terms
}

/// The hashes a block must (possibly) hold for `terms` to match in it.
/// Prefixes shorter than `MIN_PREFIX` give none: they were not indexed, so
/// they must not rule blocks out.
pub fn term_hashes(terms: &[Term]) -> Vec<u64> {
    let mut out: Vec<u64> = terms
        .iter()
        .filter_map(|t| match t {
            Term::Word(w) => Some(word_hash(&fold(w))),
            Term::Prefix(p) => {
                let p = fold(p);
                let n = indexed_prefix_len(p.chars().count())?;
                Some(prefix_hash(first_chars(&p, n)))
            }
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The exact test behind the filters (which have false positives): every
/// term is a word of `text`, or a prefix of one, ignoring case.
pub fn matches(text: &str, terms: &[Term]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let words: Vec<String> = words(text).collect();
    // Terms built by hand rather than by `parse_query` may carry capitals.
    terms.iter().all(|t| match t {
        Term::Word(w) => {
            let w = fold(w);
            words.contains(&w)
        }
        Term::Prefix(p) => {
            let p = fold(p);
            words.iter().any(|x| x.starts_with(p.as_str()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        tokenize(text, &mut out);
        out
    }

    fn words_of(q: &str) -> Vec<u64> {
        term_hashes(&parse_query(q))
    }

    // Values as first computed by xxhash-rust 0.8.21; a change here means
    // every stored filter would silently miss.
    #[test]
    fn hashes_are_pinned_because_they_live_on_disk() {
        assert_eq!(word_hash("key"), PINNED_WORD_KEY);
        assert_eq!(prefix_hash("key"), PINNED_PREFIX_KEY);
        assert_eq!(field_token("host", "web-1"), PINNED_FIELD_HOST);
    }

    const PINNED_WORD_KEY: u64 = 13_003_953_179_085_492_006;
    const PINNED_PREFIX_KEY: u64 = 9_453_476_014_058_788_065;
    const PINNED_FIELD_HOST: u64 = 10_866_564_150_366_458_058;

    #[test]
    fn tokenize_lowercases_words_and_splits_on_punctuation() {
        let t = toks("KeyError: 'user_id' (x)");
        assert!(!t.contains(&word_hash("user_id")));
        for w in ["keyerror", "user", "id", "x"] {
            assert!(t.contains(&word_hash(w)), "{w}");
        }
        assert!(!t.contains(&word_hash("KeyError")));
        assert!(!t.contains(&word_hash("keyerror:")));
    }

    #[test]
    fn tokenize_indexes_prefixes_of_the_indexed_lengths_from_three_to_twelve_chars() {
        let t = toks("abcdefghijklmnop");
        assert!(!t.contains(&prefix_hash("ab")));
        for n in MIN_PREFIX..=MAX_PREFIX {
            let indexed = INDEXED_PREFIXES.contains(&n);
            assert_eq!(
                t.contains(&prefix_hash(&"abcdefghijklmnop"[..n])),
                indexed,
                "{n}"
            );
        }
        assert!(!t.contains(&prefix_hash("abcdefghijklm")));
        // one word hash plus seven prefixes
        assert_eq!(t.len(), 8);
    }

    #[test]
    fn a_prefix_of_any_length_finds_its_words_through_the_lengths_indexed() {
        for word in ["payment", "payments", "abcdefghijklmnop", "keys", "key"] {
            let t = toks(word);
            for n in MIN_PREFIX..=word.len() {
                let hashes = term_hashes(&[Term::Prefix(word[..n].to_owned())]);
                assert_eq!(hashes.len(), 1, "{word} {n}");
                assert!(t.contains(&hashes[0]), "{word}: prefix of {n}");
            }
        }
    }

    #[test]
    fn a_short_word_is_its_own_prefix() {
        assert!(toks("key").contains(&prefix_hash("key")));
        assert_eq!(toks("ab"), vec![word_hash("ab")]);
    }

    #[test]
    fn words_and_prefixes_hash_in_different_domains() {
        assert_ne!(word_hash("key"), prefix_hash("key"));
        assert_ne!(word_hash("key"), field_token("", "key"));
    }

    #[test]
    fn tokenize_handles_unicode_words() {
        let t = toks("Grüße, ÉTÉ 東京");
        // Lowercased and without diacritics; other scripts as they are.
        assert!(t.contains(&word_hash("gruße")));
        assert!(t.contains(&word_hash("ete")));
        assert!(t.contains(&word_hash("東京")));
        assert!(t.contains(&prefix_hash("gru")));
        assert_eq!(words_of("GRÜSSE"), words_of("grüsse"));
        assert_eq!(words_of("Grüße"), words_of("gruße"));
    }

    #[test]
    fn very_long_words_are_capped_and_still_found() {
        let long = "x".repeat(10_000);
        let t = toks(&long);
        assert_eq!(t.len(), 1 + INDEXED_PREFIXES.len());
        assert!(t.contains(&words_of(&long)[0]));
        assert!(matches(&long, &parse_query(&long)));
        assert!(!matches(&"x".repeat(9_999), &parse_query(&long)));
    }

    #[test]
    fn field_tokens_keep_field_and_value_apart() {
        assert_ne!(field_token("ab", "c"), field_token("a", "bc"));
        assert_ne!(field_token("host", "a"), field_token("logger", "a"));
        assert_eq!(field_token("host", "a"), field_token("host", "a"));
    }

    #[test]
    fn logger_tokens_cover_each_dotted_ancestor() {
        let mut out = Vec::new();
        logger_tokens("a.b.c", &mut out);
        let want: Vec<u64> = ["a", "a.b", "a.b.c"]
            .iter()
            .map(|l| field_token("logger", l))
            .collect();
        assert_eq!(out, want);
        out.clear();
        logger_tokens("root", &mut out);
        assert_eq!(out, vec![field_token("logger", "root")]);
    }

    #[test]
    fn parse_query_reads_words_and_prefixes() {
        assert_eq!(
            parse_query("  KeyError:  conn*  a.b* "),
            vec![
                Term::Word("keyerror".into()),
                Term::Prefix("conn".into()),
                Term::Word("a".into()),
                Term::Prefix("b".into()),
            ]
        );
        assert_eq!(parse_query("* ** :*"), vec![]);
        assert_eq!(parse_query("foo:*"), vec![Term::Word("foo".into())]);
        assert_eq!(parse_query(""), vec![]);
    }

    #[test]
    fn term_hashes_are_what_tokenize_indexed() {
        let t = toks("KeyError: connection refused");
        for q in ["keyerror", "KEYERROR:", "conn*", "Connection*", "refused"] {
            for h in words_of(q) {
                assert!(t.contains(&h), "{q}");
            }
            assert!(!words_of(q).is_empty(), "{q}");
        }
    }

    #[test]
    fn short_prefixes_give_no_hash_and_long_ones_use_twelve_chars() {
        assert!(words_of("ke*").is_empty());
        assert_eq!(
            words_of("abcdefghijklmnop*"),
            vec![prefix_hash("abcdefghijkl")]
        );
        let t = toks("abcdefghijklzzz");
        assert!(t.contains(&words_of("abcdefghijklmnop*")[0]));
    }

    #[test]
    fn matches_checks_every_term_exactly() {
        let text = "KeyError: 'user_id' in handler.py, Zürich";
        assert!(matches(text, &parse_query("keyerror user_id")));
        assert!(matches(text, &parse_query("user")));
        assert!(matches(text, &parse_query("zurich")));
        assert!(matches(text, &parse_query("ZÜRICH")));
        assert!(matches(text, &parse_query("KeyErr* hand*")));
        assert!(matches(text, &parse_query("ke*")));
        assert!(matches(text, &parse_query("handler.py")));
        assert!(!matches(text, &parse_query("key")));
        assert!(!matches(text, &parse_query("keyerror missing")));
        assert!(matches(text, &[]));
        assert!(matches(text, &[Term::Word("KeyError".into())]));
    }
}
