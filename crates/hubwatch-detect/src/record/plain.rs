//! `serde` readers for the record values a struct carries (an [`Alert`](crate::alert::Alert)
//! read back from a dead-letter file or a follow-up): read as records are, by
//! [`parse_document`], so a key named like one of `serde_json`'s private tokens stays a plain
//! key. Through `serde_json`'s `Value` such a key turns its object into a number, or fails the
//! whole struct, and a follow-up holding one would be retried for ever.

use super::parse_document;
use serde::de::Error;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Nesting read: more than a record's own limit, so every value taken from a record fits.
const MAX_DEPTH: usize = 128;

fn from_raw<E: Error>(raw: &RawValue) -> Result<Value, E> {
    parse_document(raw.get(), MAX_DEPTH)
        .ok_or_else(|| E::custom("a JSON value nested more than 128 levels"))
}

/// A JSON value.
pub fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    from_raw(&<Box<RawValue>>::deserialize(d)?)
}

/// A JSON value or `null` (`None`).
pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Option<Box<RawValue>>>::deserialize(d)?
        .map(|raw| from_raw(&raw))
        .transpose()
}

/// A JSON object.
pub fn object<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    match value(d)? {
        Value::Object(m) => Ok(m),
        _ => Err(D::Error::custom("expected a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Carrier {
        #[serde(deserialize_with = "value")]
        v: Value,
        #[serde(deserialize_with = "object")]
        m: Map<String, Value>,
        #[serde(default, deserialize_with = "option")]
        o: Option<Value>,
    }

    #[test]
    fn private_token_keys_stay_plain() {
        let text = r#"{"v":{"$serde_json::private::Number":"1.5$"},
            "m":{"k":[{"$serde_json::private::RawValue":"x"}]},"o":null}"#;
        // What `Value` fields would do with it.
        assert!(serde_json::from_str::<Map<String, Value>>(text).is_err());
        let c: Carrier = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.v, json!({"$serde_json::private::Number": "1.5$"}));
        assert_eq!(
            c.m,
            json!({"k": [{"$serde_json::private::RawValue": "x"}]})
                .as_object()
                .cloned()
                .unwrap_or_default()
        );
        assert_eq!(c.o, None);
        // Numbers as serde_json reads them.
        let c: Carrier =
            serde_json::from_str(r#"{"v":1e2,"m":{},"o":[-0]}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Some(c.v), serde_json::from_str::<Value>("1e2").ok());
        assert_eq!(c.o.map(|o| o.to_string()).as_deref(), Some("[-0]"));
        assert!(serde_json::from_str::<Carrier>(r#"{"v":1,"m":[]}"#).is_err());
    }
}
