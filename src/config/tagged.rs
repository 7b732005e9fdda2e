//! Deserialization of the sections that are one struct per kind (`[source]`, `[checkpoint]`,
//! `[[sinks]]`, the blob `auth` of `[checkpoint]` and `[backfill]`), with errors that name the
//! key below the section.
//!
//! Why not `#[serde(tag = "kind")]`: serde buffers an internally tagged (or flattened) table
//! before it picks the variant, and deserializes the variant from that buffer, out of
//! `serde_path_to_error`'s sight. Every error inside would name only the section (`sinks[0]`),
//! not the key (`sinks[0].url`), and an environment override could no longer be found by its
//! key (to name its variable, or to retry `2024` as the string it was). So these sections are
//! read as a table, the tag taken out by hand, and each part deserialized with its own path
//! tracking; a part's error carries its key in the message as `key `k`: why`, which
//! [`join`] turns back into the full key (`Config::from_toml` does, and so does a section
//! holding another such part).

use serde::de::DeserializeOwned;
use serde::{de, Deserialize, Deserializer};
use std::fmt;

/// A key below a section and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    /// Relative to the section (`url`, `headers.X`); empty for the section itself.
    pub key: String,
    pub message: String,
}

impl KeyError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        KeyError {
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// As a serde error of the deserializer reading the section (see [`join`]).
    pub fn into_de<E: de::Error>(self) -> E {
        E::custom(self)
    }

    fn from_path(e: serde_path_to_error::Error<toml::de::Error>, required: &str) -> Self {
        let inner = e.inner().to_string();
        // toml ends its message with the keys it passed (`in `url``); the key is named here,
        // and the section's own reader adds the section.
        let inner = inner.split("\nin `").next().unwrap_or_default();
        let (key, message) = join(&e.path().to_string(), inner.trim());
        if inner.trim().starts_with("key `") {
            // A part's error that already names its key.
            return KeyError { key, message };
        }
        // A missing or unknown key of the section itself: name it.
        for (prefix, missing) in [("missing field `", true), ("unknown field `", false)] {
            if let Some(field) = message
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
            {
                // `serde_path_to_error` already names an unknown key, not a missing one.
                let named = key == field || key.ends_with(&format!(".{field}"));
                let key = if named {
                    key.clone()
                } else {
                    sub_key(&key, field)
                };
                let message = if missing {
                    format!("required {required}").trim_end().to_string()
                } else {
                    message.clone()
                };
                return KeyError { key, message };
            }
        }
        KeyError { key, message }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "key `{}`: {}", self.key, self.message)
        }
    }
}

/// The full key and message of an error at `path` (as `serde_path_to_error` shows it, `.` for
/// the root) whose message may name a key below it (`key `url`: ...`, see [`KeyError`]).
pub(crate) fn join(path: &str, message: &str) -> (String, String) {
    let path = if path == "." { "" } else { path };
    if let Some((key, rest)) = message
        .strip_prefix("key `")
        .and_then(|m| m.split_once("`: "))
    {
        return (sub_key(path, key), rest.to_string());
    }
    (path.to_string(), message.to_string())
}

fn sub_key(path: &str, key: &str) -> String {
    match (path.is_empty(), key.is_empty() || key == ".") {
        (_, true) => path.to_string(),
        (true, false) => key.to_string(),
        (false, false) if key.starts_with('[') => format!("{path}{key}"),
        (false, false) => format!("{path}.{key}"),
    }
}

/// Deserializes all of `table` as `T`, which denies unknown keys: a key of another kind is an
/// error naming it. `required` completes "required" for a missing key (`for kind = "file"`).
pub(crate) fn from_table<T: DeserializeOwned>(
    table: toml::Table,
    required: &str,
) -> Result<T, KeyError> {
    serde_path_to_error::deserialize(toml::Value::Table(table))
        .map_err(|e| KeyError::from_path(e, required))
}

/// Takes `T`'s keys out of `table` and deserializes them as `T` (a part shared by every kind;
/// `T` derives `Deserialize` without `flatten`, which is what names its keys).
pub(crate) fn take<T: DeserializeOwned>(table: &mut toml::Table) -> Result<T, KeyError> {
    let mut mine = toml::Table::new();
    for field in field_names::<T>() {
        if let Some(v) = table.remove(*field) {
            mine.insert((*field).to_string(), v);
        }
    }
    from_table(mine, "")
}

/// Takes the tag out of `table`: `None` when absent, else one of `choices`.
pub(crate) fn take_tag(
    table: &mut toml::Table,
    tag: &str,
    choices: &[&'static str],
) -> Result<Option<&'static str>, KeyError> {
    let expected = || {
        let names: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
        names.join(", ")
    };
    match table.remove(tag) {
        None => Ok(None),
        Some(toml::Value::String(s)) => match choices.iter().find(|c| **c == s) {
            Some(c) => Ok(Some(c)),
            None => Err(KeyError::new(
                tag,
                format!("unknown variant `{s}`, expected one of {}", expected()),
            )),
        },
        Some(other) => Err(KeyError::new(
            tag,
            format!(
                "invalid type: {}, expected a string, one of {}",
                other.type_str(),
                expected()
            ),
        )),
    }
}

/// The section as a table (from any deserializer: `Config::from_toml`'s or `toml::from_str`).
pub(crate) fn table<'de, D: Deserializer<'de>>(d: D) -> Result<toml::Table, D::Error> {
    toml::Table::deserialize(d)
}

/// The keys a derived `Deserialize` of a struct names (the `fields` it passes to
/// `deserialize_struct`); empty for anything else.
pub(crate) fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only the field names were asked for"))
    }

    fn deserialize_any<V: de::Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Part {
        #[allow(dead_code)]
        name: String,
        #[serde(default)]
        #[allow(dead_code)]
        n: u32,
    }

    #[test]
    fn errors_name_the_key_below_the_section() {
        assert_eq!(field_names::<Part>(), ["name", "n"]);
        let t: toml::Table = "n = \"x\"\nname = \"a\"\nother = 1".parse().unwrap();
        let mut rest = t.clone();
        let e = take::<Part>(&mut rest).unwrap_err();
        assert_eq!(e.key, "n");
        assert_eq!(rest.keys().collect::<Vec<_>>(), ["other"]);
        let e = from_table::<Part>(t, "").unwrap_err();
        assert_eq!(e.key, "n");
        let e = from_table::<Part>("other = 1".parse().unwrap(), "for kind = \"x\"").unwrap_err();
        assert_eq!(e.key, "other");
        let e = from_table::<Part>(toml::Table::new(), "for kind = \"x\"").unwrap_err();
        assert_eq!(e, KeyError::new("name", "required for kind = \"x\""));
        assert_eq!(
            join("sinks[0]", &e.to_string()),
            (
                "sinks[0].name".to_string(),
                "required for kind = \"x\"".to_string()
            )
        );
        assert_eq!(join(".", "bad"), (String::new(), "bad".to_string()));
    }
}
