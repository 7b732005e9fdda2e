//! `AlertTitle` templates: text with `{field}` placeholders.
//!
//! A placeholder holds a key path in `KeyPath` syntax (`{operationName}`, `{properties.id}`,
//! `{records[0].name}`; lookup is case-insensitive). A present value renders as Python's `str()`
//! would (`None`, `True`, `['a', 1]`); a missing one renders as an empty string; a `[*]` path
//! renders the list of the values it reaches. `{{` and `}}` stand for literal braces, as in
//! Python format strings.

use super::path::KeyPath;
use crate::record::python_str;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field(KeyPath),
}

/// A parsed title template.
#[derive(Debug, Clone)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a template; the error names the problem.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(format!(
                        "AlertTitle has a '}}' without a matching '{{' at character {i} (write \
                         '}}}}' for a literal brace)"
                    ))
                }
                '{' => {
                    let rest = &text[i + 1..];
                    let Some(end) = rest.find('}') else {
                        return Err(format!(
                            "AlertTitle has an unclosed '{{' at character {i} (write '{{{{' for a \
                             literal brace)"
                        ));
                    };
                    let field = rest[..end].trim();
                    if field.contains('{') {
                        return Err(format!(
                            "AlertTitle has a nested '{{' in {:?}",
                            &rest[..end]
                        ));
                    }
                    if field.is_empty() {
                        return Err("AlertTitle has an empty placeholder '{}'".into());
                    }
                    let path = KeyPath::parse(field)
                        .map_err(|m| format!("AlertTitle placeholder: {m}"))?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(path));
                    // Skip the placeholder text and its closing brace.
                    while let Some((j, _)) = chars.peek() {
                        if *j > i + end + 1 {
                            break;
                        }
                        chars.next();
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// Renders the template for a record.
    pub fn render(&self, record: &Map<String, Value>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(path) => {
                    if let Some(v) = path.value(record) {
                        out.push_str(&python_str(&v));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: Value) -> String {
        let Value::Object(m) = v else {
            unreachable!("test input is an object")
        };
        Template::parse(t).unwrap().render(&m)
    }

    #[test]
    fn renders_fields() {
        let rec = json!({
            "operationName": "KeyGet",
            "props": {"Id": "k1", "n": 5, "nil": null, "ok": true},
            "list": [{"a": "x"}, {"a": 2}],
            "é": "accent"
        });
        assert_eq!(
            render(
                "op {OPERATIONNAME} on [{props.id}] n={props.n}",
                rec.clone()
            ),
            "op KeyGet on [k1] n=5"
        );
        assert_eq!(
            render("{props.nil}/{props.ok}/{missing}/{list[1].a}", rec.clone()),
            "None/True//2"
        );
        assert_eq!(render("{list[*].a}", rec.clone()), "['x', 2]");
        assert_eq!(
            render("{{literal}} {{{é}}}", rec.clone()),
            "{literal} {accent}"
        );
        assert_eq!(render("no fields", rec.clone()), "no fields");
        assert_eq!(render("", rec), "");
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in ["{", "a } b", "{}", "{a{b}", "{a..b}", "x {y"] {
            assert!(Template::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
