//! JSON values of a record's body as OTLP attribute values.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use serde_json::{Map, Value};

/// How deep a context value is turned into OTLP maps and arrays; deeper
/// parts go as JSON text.
const MAX_VALUE_DEPTH: usize = 8;

pub fn str_field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

pub fn kv(key: impl Into<String>, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub fn text(s: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(s.into())
}

/// A JSON value as an OTLP value; `None` for null.
pub fn any(v: &Value, depth: usize) -> Option<any_value::Value> {
    use any_value::Value as V;
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => V::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => V::StringValue(s.clone()),
        _ if depth >= MAX_VALUE_DEPTH => V::StringValue(v.to_string()),
        Value::Array(a) => V::ArrayValue(ArrayValue {
            values: a
                .iter()
                .map(|x| AnyValue {
                    value: any(x, depth + 1),
                })
                .collect(),
        }),
        Value::Object(m) => V::KvlistValue(KeyValueList {
            values: m
                .iter()
                .filter_map(|(k, x)| any(x, depth + 1).map(|x| kv(k.clone(), x)))
                .collect(),
        }),
    })
}
