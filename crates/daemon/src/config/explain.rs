//! Plain words for the sink mistakes that serde can only put in its own
//! terms ("invalid type: unit value, expected internally tagged enum
//! SinkConfig"), each with the line it is on.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

/// The sinks' `type` values, as `SinkConfig` names them.
pub const SINK_TYPES: [&str; 7] = [
    "store",
    "file",
    "console",
    "feed",
    "forward",
    "jetstream",
    "otlp",
];

/// Just enough of the file to see the shape of each sink.
#[derive(Deserialize)]
struct Outline {
    #[serde(default)]
    sinks: Option<BTreeMap<String, Spanned<SinkShape>>>,
}

enum SinkShape {
    Empty,
    Scalar(String),
    List,
    /// A map; its `type` when there is one (`Some(None)`: not a word).
    Map(Option<Option<String>>),
}

/// What is wrong with the sinks of `text`, the first problem in the file,
/// if it is one of the mistakes explained here.
pub fn sinks(text: &str) -> Option<String> {
    let outline: Outline = serde_saphyr::from_str(text).ok()?;
    let mut problems: Vec<(usize, String)> = outline
        .sinks?
        .into_iter()
        .filter_map(|(name, shape)| {
            let line = shape.referenced.line() as usize;
            problem(&name, &shape.value).map(|p| (line, format!("line {line}: sink {name:?} {p}")))
        })
        .collect();
    problems.sort();
    problems.into_iter().next().map(|(_, p)| p)
}

fn problem(name: &str, shape: &SinkShape) -> Option<String> {
    let types = SINK_TYPES.join(", ");
    Some(match shape {
        SinkShape::Empty => format!(
            "has no settings: put them on the lines after it, indented further than \
             the name, starting with `type:` ({types}); or on the same line, as \
             `{name}: {{type: …}}`"
        ),
        SinkShape::Scalar(s) if SINK_TYPES.contains(&s.as_str()) => format!(
            "is just {s:?}, but a sink is a map of settings starting with `type:`; \
             did you mean `{name}: {{type: {s}}}`?"
        ),
        SinkShape::Scalar(s) => format!(
            "is just {s:?}, but a sink is a map of settings starting with `type:` ({types})"
        ),
        SinkShape::List => {
            format!("is a list, but a sink is a map of settings starting with `type:` ({types})")
        }
        SinkShape::Map(None) => format!("has no `type`: give one of {types}"),
        SinkShape::Map(Some(None)) => {
            format!("has a `type` that is not a word: use one of {types}")
        }
        SinkShape::Map(Some(Some(t))) if !SINK_TYPES.contains(&t.as_str()) => {
            let known: Vec<String> = SINK_TYPES.iter().map(|&k| k.to_owned()).collect();
            match super::closest(t, &known) {
                Some(c) => format!("has unknown type {t:?}; did you mean {c:?}? (types: {types})"),
                None => format!("has unknown type {t:?} (types: {types})"),
            }
        }
        SinkShape::Map(Some(Some(_))) => return None,
    })
}

impl<'de> Deserialize<'de> for SinkShape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = SinkShape;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sink")
    }

    fn visit_unit<E: de::Error>(self) -> Result<SinkShape, E> {
        Ok(SinkShape::Empty)
    }

    fn visit_none<E: de::Error>(self) -> Result<SinkShape, E> {
        Ok(SinkShape::Empty)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<SinkShape, E> {
        Ok(SinkShape::Scalar(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SinkShape, E> {
        Ok(SinkShape::Scalar(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SinkShape, E> {
        Ok(SinkShape::Scalar(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SinkShape, E> {
        Ok(SinkShape::Scalar(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SinkShape, E> {
        Ok(SinkShape::Scalar(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SinkShape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(SinkShape::List)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SinkShape, A::Error> {
        let mut kind = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "type" {
                let v: serde_json::Value = map.next_value()?;
                kind = Some(v.as_str().map(str::to_owned));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(SinkShape::Map(kind))
    }
}
