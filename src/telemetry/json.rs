//! JSON log lines with structured values: a field named in [`JSON_FIELDS`] whose text is a JSON
//! object or array (logged with [`Json`]) is written as that JSON value, not as a string.
//!
//! `tracing` records field values as strings, numbers or booleans only; this formatter lets the
//! JSON formatter of `tracing-subscriber` write the line, then puts the nested values in place.
//! Logs are low-volume (no per-record logging), so the second pass costs nothing that matters.

use serde::Serialize;
use std::fmt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// Fields written as nested JSON when their text is a JSON object or array.
pub(crate) const JSON_FIELDS: &[&str] = &["source"];

/// A value logged as its JSON text (`source = %Json(&entry.source)`): nested JSON in JSON logs,
/// compact JSON in text logs. `null` if it cannot be serialised.
pub(crate) struct Json<'a, T: Serialize>(pub &'a T);

impl<T: Serialize> fmt::Display for Json<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self.0) {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str("null"),
        }
    }
}

/// Wraps the JSON event formatter.
pub(crate) struct NestedJson<F> {
    inner: F,
}

impl<F> NestedJson<F> {
    pub(crate) fn new(inner: F) -> Self {
        NestedJson { inner }
    }
}

impl<S, N, F> FormatEvent<S, N> for NestedJson<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&nest(line))
    }
}

/// The line with the [`JSON_FIELDS`] that hold JSON text replaced by their value; the line as
/// it was when it is not a JSON object or has no such field.
fn nest(line: String) -> String {
    if !JSON_FIELDS
        .iter()
        .any(|f| line.contains(&format!("\"{f}\":\"")))
    {
        return line;
    }
    let Ok(mut map) =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line.trim_end())
    else {
        return line;
    };
    let mut changed = false;
    for field in JSON_FIELDS {
        let Some(serde_json::Value::String(text)) = map.get(*field) else {
            continue;
        };
        if !(text.starts_with('{') || text.starts_with('[')) {
            continue;
        }
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            map.insert((*field).to_string(), value);
            changed = true;
        }
    }
    if !changed {
        return line;
    }
    match serde_json::to_string(&map) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        Err(_) => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_in_a_json_field_becomes_a_value() {
        let line = "{\"level\":\"WARN\",\"source\":\"{\\\"kind\\\":\\\"file\\\",\\\"line\\\":3}\",\"x\":1}\n";
        assert_eq!(
            nest(line.to_string()),
            "{\"level\":\"WARN\",\"source\":{\"kind\":\"file\",\"line\":3},\"x\":1}\n"
        );
    }

    #[test]
    fn other_lines_are_left_alone() {
        for line in [
            "{\"source\":\"eventhubs\"}\n",
            "{\"message\":\"no source\"}\n",
            "{\"source\":\"{not json\"}\n",
            "not json \"source\":\"{\"\n",
        ] {
            assert_eq!(nest(line.to_string()), line);
        }
    }
}
