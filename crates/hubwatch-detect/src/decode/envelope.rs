//! The `serde_json` path's view of one JSON document: a `{"records": [...]}` envelope (with any
//! earlier `"records"` arrays a repeated key replaced), a bare record, or something else, told
//! apart in the single `serde_json` pass that also validates the document.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// What the `serde_json` path learns about a document's shape.
pub(super) enum Envelope<'a> {
    /// The records, and the earlier arrays of a repeated `"records"` key.
    Records {
        items: Vec<&'a RawValue>,
        shadowed: Vec<Vec<&'a RawValue>>,
    },
    Bare,
    NotRecords(&'static str),
    RecordsNotArray(&'static str),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Envelope<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Envelope::Records {
            items,
            shadowed: Vec::new(),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = None;
        let mut shadowed = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "records" {
                // Python's json keeps the last of duplicate keys.
                let value = map.next_value::<RecordsField<'de>>()?;
                if let Some(RecordsField::Array(earlier)) = records.replace(value) {
                    if !earlier.is_empty() {
                        shadowed.push(earlier);
                    }
                }
            } else {
                // A raw value, not `IgnoredAny`: borrowing it from bytes checks that it is
                // UTF-8, which skipping does not (Python decodes the whole body first). Read
                // as text (already checked), borrowing it costs no more than skipping.
                map.next_value::<&'de RawValue>()?;
            }
        }
        Ok(match records {
            None => Envelope::Bare,
            Some(RecordsField::Array(items)) => Envelope::Records { items, shadowed },
            Some(RecordsField::Other(kind)) => Envelope::RecordsNotArray(kind),
        })
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Envelope::NotRecords("null"))
    }
}

/// The value of `records`: an array of raw records, or the kind of whatever else it was.
enum RecordsField<'a> {
    Array(Vec<&'a RawValue>),
    Other(&'static str),
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for RecordsField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RecordsVisitor)
    }
}

struct RecordsVisitor;

impl<'de> Visitor<'de> for RecordsVisitor {
    type Value = RecordsField<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(RecordsField::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RecordsField::Other("object"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RecordsField::Other("null"))
    }
}

/// Whether `text` is one valid document as the `serde_json` path reads it (the salvage path's
/// check of an envelope with its records taken out).
pub(super) fn valid_envelope(text: &[u8]) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<Envelope>(text).map(|_| ())
}
