//! Store ids made unique across sources. Each collector numbers its own
//! records, so a front gives out `id * STRIDE + source` (source 0 is the
//! front's own store): `/api/records/{id}` then knows whom to ask, and
//! page cursors (`<seq>.<id>`) keep one order across sources.

use serde_json::Value;

/// Sources one front can tell apart in an id.
pub const STRIDE: i64 = 64;

pub fn encode(local: i64, source: usize) -> i64 {
    local.saturating_mul(STRIDE).saturating_add(source as i64)
}

/// `(local id, source)` of a federated id.
pub fn decode(id: i64) -> (i64, usize) {
    (id.div_euclid(STRIDE), id.rem_euclid(STRIDE) as usize)
}

/// Rewrites the `id` of a record object in place.
pub fn rewrite(record: &mut Value, source: usize) {
    if let Some(id) = record.get("id").and_then(Value::as_i64) {
        record["id"] = Value::from(encode(id, source));
    }
}

pub fn parse_cursor(text: &str) -> Option<(i64, i64)> {
    let (seq, id) = text.split_once('.')?;
    Some((seq.parse().ok()?, id.parse().ok()?))
}

/// The cursor to give `source` for a front's cursor `(seq, id)`: its
/// records after it in the front's order are those after
/// `(seq, ⌊(id − source) / STRIDE⌋)` in its own.
pub fn cursor_for(at: (i64, i64), source: usize) -> String {
    let local = (at.1 - source as i64).div_euclid(STRIDE);
    format!("{}.{local}", at.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_cursors_keep_the_merged_order() {
        for source in [0, 1, 5, 63] {
            for local in [1, 2, 1_000_000] {
                assert_eq!(decode(encode(local, source)), (local, source));
            }
        }
        // Merged order (seq, federated id); a source's records after the
        // cursor are exactly those its translated cursor gives.
        let at = (3, encode(10, 2));
        for (source, local, after) in [
            (2, 10, false),
            (2, 11, true),
            (1, 10, false),
            (3, 10, true),
            (3, 9, false),
        ] {
            let mine = (3, encode(local, source));
            assert_eq!(mine > at, after, "source {source} id {local}");
            let (_, c) = parse_cursor(&cursor_for(at, source)).expect("a cursor");
            assert_eq!(local > c, after, "source {source} id {local}");
        }
    }
}
