//! Conditions: what a key/value match expression checks about the values its key reaches.
//!
//! Every condition is a positive test, possibly negated (`DoesNotEqual` is `not Equals`). A
//! positive test holds when **any** value the key reaches satisfies it; when the key reaches no
//! value (missing key, or a `[*]` path with nothing under it) it is evaluated on Python's `None`
//! from `deep_get`: only `IsNull` and `IsNullOrEmpty` hold then. A negated condition holds
//! exactly when its positive form does not, so over a `[*]` path `DoesNotEqual` means "no
//! element equals", and on a missing key every negative condition holds (as `None != "x"`).
//!
//! Comparisons follow Python: `Equals "5"` does not match the number 5, `5` equals `5.0`, `true`
//! equals `1`. String tests (`StartsWith`, `Contains`, the case-insensitive `I...` forms, which
//! compare Python `str.lower()` results) are false for non-string values, numeric tests are false
//! for non-numbers (Python `bool` counts as a number), and IP tests are false for values that are
//! not address strings. Nothing here can fail at evaluation time.

use super::ip;
use ipnet::IpNet;
use serde_json::Value;
use std::cmp::Ordering;

/// A scalar a rule compares against (`Value:` or an element of `Values:`).
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(Num),
    Bool(bool),
}

/// A number with Python's exact int/float comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    /// The number a JSON value stands for in Python (`bool` is an `int`).
    pub fn of_json(value: &Value) -> Option<Num> {
        match value {
            Value::Number(n) => Some(if let Some(i) = n.as_i64() {
                Num::Int(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Num::Int(i128::from(u))
            } else {
                Num::Float(n.as_f64()?)
            }),
            Value::Bool(b) => Some(Num::Int(i128::from(*b))),
            _ => None,
        }
    }

    /// Exact comparison, `None` when a NaN is involved.
    pub fn compare(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b),
            (Num::Int(a), Num::Float(b)) => int_float(a, b),
            (Num::Float(a), Num::Int(b)) => int_float(b, a).map(Ordering::reverse),
        }
    }
}

/// Compares an integer with a float exactly (Python semantics).
fn int_float(a: i128, b: f64) -> Option<Ordering> {
    if b.is_nan() {
        return None;
    }
    // i128 spans about ±1.7e38.
    if b >= 1.7e38 {
        return Some(Ordering::Less);
    }
    if b <= -1.7e38 {
        return Some(Ordering::Greater);
    }
    let t = b.trunc();
    // `t` is integral and within i128's range, so the cast is exact.
    match a.cmp(&(t as i128)) {
        Ordering::Equal if b > t => Some(Ordering::Less),
        Ordering::Equal if b < t => Some(Ordering::Greater),
        o => Some(o),
    }
}

impl Literal {
    /// Python `==` between a JSON value and this literal.
    pub fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Literal::Str(s), Value::String(v)) => s == v,
            (Literal::Str(_), _) => false,
            (Literal::Bool(b), v) => {
                Num::of_json(v).and_then(|n| n.compare(Num::Int(i128::from(*b))))
                    == Some(Ordering::Equal)
            }
            (Literal::Num(n), v) => {
                Num::of_json(v).and_then(|x| x.compare(*n)) == Some(Ordering::Equal)
            }
        }
    }
}

/// The positive test of a condition.
#[derive(Debug, Clone)]
pub enum Test {
    Equals(Literal),
    /// Lower-cased value.
    IEquals(String),
    IsIn(Vec<Literal>),
    /// Lower-cased values.
    IIsIn(Vec<String>),
    StartsWith(String),
    IStartsWith(String),
    EndsWith(String),
    IEndsWith(String),
    Contains(String),
    IContains(String),
    Exists,
    IsNull,
    IsNullOrEmpty,
    InCidr(IpNet),
    IpPublic,
    IpPrivate,
    Greater(Num),
    GreaterOrEqual(Num),
    Less(Num),
    LessOrEqual(Num),
}

/// What a condition needs besides the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// No `Value`/`Values`.
    None,
    /// `Value:` scalar (string, number or boolean).
    Scalar,
    /// `Value:` string.
    Str,
    /// `Values:` list of scalars.
    Scalars,
    /// `Values:` list of strings.
    Strs,
    /// `Value:` number.
    Number,
    /// `Value:` CIDR string.
    Cidr,
}

/// Every supported condition: name, operand, negated.
pub const CONDITIONS: &[(&str, Operand, bool)] = &[
    ("Equals", Operand::Scalar, false),
    ("DoesNotEqual", Operand::Scalar, true),
    ("IEquals", Operand::Str, false),
    ("IDoesNotEqual", Operand::Str, true),
    ("IsIn", Operand::Scalars, false),
    ("IsNotIn", Operand::Scalars, true),
    ("IIsIn", Operand::Strs, false),
    ("IIsNotIn", Operand::Strs, true),
    ("StartsWith", Operand::Str, false),
    ("DoesNotStartWith", Operand::Str, true),
    ("IStartsWith", Operand::Str, false),
    ("IDoesNotStartWith", Operand::Str, true),
    ("EndsWith", Operand::Str, false),
    ("DoesNotEndWith", Operand::Str, true),
    ("IEndsWith", Operand::Str, false),
    ("IDoesNotEndWith", Operand::Str, true),
    ("Contains", Operand::Str, false),
    ("DoesNotContain", Operand::Str, true),
    ("IContains", Operand::Str, false),
    ("IDoesNotContain", Operand::Str, true),
    ("Exists", Operand::None, false),
    ("DoesNotExist", Operand::None, true),
    ("IsNull", Operand::None, false),
    ("IsNotNull", Operand::None, true),
    ("IsNullOrEmpty", Operand::None, false),
    ("IsNotNullOrEmpty", Operand::None, true),
    ("IsIPAddressInCIDR", Operand::Cidr, false),
    ("IsIPAddressNotInCIDR", Operand::Cidr, true),
    ("IsIPAddressPublic", Operand::None, false),
    ("IsIPAddressPrivate", Operand::None, false),
    ("IsGreaterThan", Operand::Number, false),
    ("IsGreaterThanOrEquals", Operand::Number, false),
    ("IsLessThan", Operand::Number, false),
    ("IsLessThanOrEquals", Operand::Number, false),
];

/// The operand a condition was given, already checked against [`Operand`].
#[derive(Debug, Clone)]
pub enum Given {
    None,
    One(Literal),
    Many(Vec<Literal>),
}

/// A condition with its operand.
#[derive(Debug, Clone)]
pub struct Condition {
    pub name: &'static str,
    pub test: Test,
    pub negated: bool,
}

impl Condition {
    /// Looks a condition name up (exact spelling, as Panther requires).
    pub fn lookup(name: &str) -> Option<(&'static str, Operand, bool)> {
        CONDITIONS.iter().find(|(n, _, _)| *n == name).copied()
    }

    /// Builds a condition from a known name and an operand of the right shape.
    pub fn build(name: &'static str, given: Given) -> Result<Condition, String> {
        let negated = Self::lookup(name).is_some_and(|(_, _, neg)| neg);
        let string = |g: &Given| match g {
            Given::One(Literal::Str(s)) => Ok(s.clone()),
            _ => Err(format!("{name} needs a string Value")),
        };
        let number = |g: &Given| match g {
            Given::One(Literal::Num(n)) => Ok(*n),
            _ => Err(format!("{name} needs a numeric Value")),
        };
        let test = match name {
            "Equals" | "DoesNotEqual" => match given {
                Given::One(l) => Test::Equals(l),
                _ => return Err(format!("{name} needs a Value")),
            },
            "IEquals" | "IDoesNotEqual" => Test::IEquals(string(&given)?.to_lowercase()),
            "IsIn" | "IsNotIn" => match given {
                Given::Many(l) => Test::IsIn(l),
                _ => return Err(format!("{name} needs a Values list")),
            },
            "IIsIn" | "IIsNotIn" => match given {
                Given::Many(l) => Test::IIsIn(
                    l.into_iter()
                        .map(|x| match x {
                            Literal::Str(s) => Ok(s.to_lowercase()),
                            _ => Err(format!("{name} needs a list of strings in Values")),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(format!("{name} needs a Values list")),
            },
            "StartsWith" | "DoesNotStartWith" => Test::StartsWith(string(&given)?),
            "IStartsWith" | "IDoesNotStartWith" => {
                Test::IStartsWith(string(&given)?.to_lowercase())
            }
            "EndsWith" | "DoesNotEndWith" => Test::EndsWith(string(&given)?),
            "IEndsWith" | "IDoesNotEndWith" => Test::IEndsWith(string(&given)?.to_lowercase()),
            "Contains" | "DoesNotContain" => Test::Contains(string(&given)?),
            "IContains" | "IDoesNotContain" => Test::IContains(string(&given)?.to_lowercase()),
            "Exists" | "DoesNotExist" => Test::Exists,
            "IsNull" | "IsNotNull" => Test::IsNull,
            "IsNullOrEmpty" | "IsNotNullOrEmpty" => Test::IsNullOrEmpty,
            "IsIPAddressInCIDR" | "IsIPAddressNotInCIDR" => {
                let text = string(&given)?;
                Test::InCidr(ip::parse_network(&text).ok_or_else(|| {
                    format!("{name}: Value {text:?} is not a CIDR network such as 10.0.0.0/8")
                })?)
            }
            "IsIPAddressPublic" => Test::IpPublic,
            "IsIPAddressPrivate" => Test::IpPrivate,
            "IsGreaterThan" => Test::Greater(number(&given)?),
            "IsGreaterThanOrEquals" => Test::GreaterOrEqual(number(&given)?),
            "IsLessThan" => Test::Less(number(&given)?),
            "IsLessThanOrEquals" => Test::LessOrEqual(number(&given)?),
            other => return Err(format!("unknown Condition {other:?}")),
        };
        Ok(Condition {
            name,
            test,
            negated,
        })
    }

    /// Whether the condition holds for the values a key reached (empty: the key is missing).
    pub fn holds(&self, values: &[&Value]) -> bool {
        let positive = if values.is_empty() {
            self.test.on_missing()
        } else {
            values.iter().any(|v| self.test.on_value(v))
        };
        positive != self.negated
    }

    /// Substrings one of which every value satisfying this condition contains (see
    /// [`super::SimpleDetection`]'s `needles`): only for positive string tests with non-empty
    /// ASCII operands. A negated condition can hold on a record holding none of them.
    pub fn needles(&self) -> Option<Vec<String>> {
        if self.negated {
            return None;
        }
        let usable = |s: &str| !s.is_empty() && s.is_ascii();
        match &self.test {
            Test::Equals(Literal::Str(s))
            | Test::IEquals(s)
            | Test::StartsWith(s)
            | Test::IStartsWith(s)
            | Test::EndsWith(s)
            | Test::IEndsWith(s)
            | Test::Contains(s)
            | Test::IContains(s)
                if usable(s) =>
            {
                Some(vec![s.clone()])
            }
            Test::IsIn(items) => items
                .iter()
                .map(|l| match l {
                    Literal::Str(s) if usable(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            Test::IIsIn(items) => items.iter().map(|s| usable(s).then(|| s.clone())).collect(),
            _ => None,
        }
    }
}

impl Test {
    /// The positive test on Python's `None` for a missing key.
    fn on_missing(&self) -> bool {
        matches!(self, Test::IsNull | Test::IsNullOrEmpty)
    }

    /// The positive test on one present value.
    fn on_value(&self, value: &Value) -> bool {
        let text = match value {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        };
        let lower = || text.map(str::to_lowercase);
        match self {
            Test::Equals(l) => l.equals(value),
            Test::IEquals(s) => lower().is_some_and(|t| t == *s),
            Test::IsIn(items) => items.iter().any(|l| l.equals(value)),
            Test::IIsIn(items) => lower().is_some_and(|t| items.contains(&t)),
            Test::StartsWith(s) => text.is_some_and(|t| t.starts_with(s.as_str())),
            Test::IStartsWith(s) => lower().is_some_and(|t| t.starts_with(s.as_str())),
            Test::EndsWith(s) => text.is_some_and(|t| t.ends_with(s.as_str())),
            Test::IEndsWith(s) => lower().is_some_and(|t| t.ends_with(s.as_str())),
            Test::Contains(s) => text.is_some_and(|t| t.contains(s.as_str())),
            Test::IContains(s) => lower().is_some_and(|t| t.contains(s.as_str())),
            Test::Exists => true,
            Test::IsNull => value.is_null(),
            Test::IsNullOrEmpty => match value {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            },
            Test::InCidr(net) => text
                .and_then(ip::parse_addr)
                .is_some_and(|a| ip::in_network(a, net)),
            Test::IpPublic => text.and_then(ip::parse_addr).is_some_and(ip::is_global),
            Test::IpPrivate => text.and_then(ip::parse_addr).is_some_and(ip::is_private),
            Test::Greater(n) => cmp(value, *n).is_some_and(|o| o == Ordering::Greater),
            Test::GreaterOrEqual(n) => cmp(value, *n).is_some_and(|o| o != Ordering::Less),
            Test::Less(n) => cmp(value, *n).is_some_and(|o| o == Ordering::Less),
            Test::LessOrEqual(n) => cmp(value, *n).is_some_and(|o| o != Ordering::Greater),
        }
    }
}

fn cmp(value: &Value, n: Num) -> Option<Ordering> {
    Num::of_json(value)?.compare(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(name: &str, given: Given) -> Condition {
        let (name, _, _) = Condition::lookup(name).unwrap();
        Condition::build(name, given).unwrap()
    }

    fn s(x: &str) -> Given {
        Given::One(Literal::Str(x.into()))
    }

    fn strs(xs: &[&str]) -> Given {
        Given::Many(xs.iter().map(|x| Literal::Str((*x).into())).collect())
    }

    fn on(c: &Condition, v: Value) -> bool {
        c.holds(&[&v])
    }

    fn missing(c: &Condition) -> bool {
        c.holds(&[])
    }

    #[test]
    fn equality_is_typed_like_python() {
        let eq5s = cond("Equals", s("5"));
        assert!(on(&eq5s, json!("5")));
        assert!(!on(&eq5s, json!(5)));
        let eq5 = cond("Equals", Given::One(Literal::Num(Num::Int(5))));
        assert!(on(&eq5, json!(5)));
        assert!(on(&eq5, json!(5.0)));
        assert!(!on(&eq5, json!("5")));
        assert!(!on(&eq5, json!(5.5)));
        let eq_true = cond("Equals", Given::One(Literal::Bool(true)));
        assert!(on(&eq_true, json!(true)));
        assert!(on(&eq_true, json!(1)));
        assert!(!on(&eq_true, json!("true")));
        assert!(!missing(&eq5s));
        let ne = cond("DoesNotEqual", s("a"));
        assert!(!on(&ne, json!("a")));
        assert!(on(&ne, json!("A")));
        assert!(on(&ne, json!(null)));
        assert!(missing(&ne));
    }

    #[test]
    fn case_insensitive_uses_unicode_lower() {
        let c = cond("IEquals", s("KeyGet"));
        assert!(on(&c, json!("KEYGET")));
        assert!(on(&c, json!("keyget")));
        assert!(!on(&c, json!("keyget ")));
        assert!(!on(&c, json!(null)));
        let u = cond("IEquals", s("ÉTÉ"));
        assert!(on(&u, json!("été")));
        let ne = cond("IDoesNotEqual", s("a"));
        assert!(!on(&ne, json!("A")));
        assert!(on(&ne, json!("b")));
        assert!(missing(&ne));
    }

    #[test]
    fn membership() {
        let c = cond(
            "IsIn",
            Given::Many(vec![
                Literal::Str("Success".into()),
                Literal::Num(Num::Int(200)),
            ]),
        );
        assert!(on(&c, json!("Success")));
        assert!(!on(&c, json!("success")));
        assert!(on(&c, json!(200.0)));
        assert!(!on(&c, json!("200")));
        assert!(!missing(&c));
        let ni = cond("IsNotIn", strs(&["a", "b"]));
        assert!(on(&ni, json!("c")));
        assert!(!on(&ni, json!("a")));
        assert!(missing(&ni));
        let ii = cond("IIsIn", strs(&["KeyGet", "KEYLIST"]));
        assert!(on(&ii, json!("keyget")));
        assert!(on(&ii, json!("KeyList")));
        assert!(!on(&ii, json!("KeySign")));
        assert!(!on(&ii, json!(1)));
        let iin = cond("IIsNotIn", strs(&["a"]));
        assert!(!on(&iin, json!("A")));
        assert!(on(&iin, json!("b")));
        assert!(Condition::build("IIsIn", Given::Many(vec![Literal::Bool(true)])).is_err());
    }

    #[test]
    fn string_tests() {
        let cases: &[(&str, &str, &str, bool)] = &[
            ("StartsWith", "Key", "KeyGet", true),
            ("StartsWith", "key", "KeyGet", false),
            ("IStartsWith", "key", "KeyGet", true),
            ("DoesNotStartWith", "Key", "KeyGet", false),
            ("DoesNotStartWith", "key", "KeyGet", true),
            ("IDoesNotStartWith", "KEY", "keyget", false),
            ("EndsWith", "Get", "KeyGet", true),
            ("EndsWith", "get", "KeyGet", false),
            ("IEndsWith", "GET", "KeyGet", true),
            ("DoesNotEndWith", "Get", "KeyGet", false),
            ("IDoesNotEndWith", "x", "KeyGet", true),
            ("Contains", "yG", "KeyGet", true),
            ("Contains", "yg", "KeyGet", false),
            ("IContains", "YG", "KeyGet", true),
            ("DoesNotContain", "yG", "KeyGet", false),
            ("IDoesNotContain", "YG", "KeyGet", false),
            ("IDoesNotContain", "zz", "KeyGet", true),
        ];
        for (name, value, field, want) in cases {
            let c = cond(name, s(value));
            assert_eq!(on(&c, json!(field)), *want, "{name} {value:?} on {field:?}");
            // Non-strings never satisfy a positive string test.
            assert_eq!(on(&c, json!(5)), c.negated, "{name} on a number");
            assert_eq!(missing(&c), c.negated, "{name} on a missing key");
        }
    }

    #[test]
    fn existence_and_null() {
        let exists = cond("Exists", Given::None);
        let absent = cond("DoesNotExist", Given::None);
        let null = cond("IsNull", Given::None);
        let not_null = cond("IsNotNull", Given::None);
        let empty = cond("IsNullOrEmpty", Given::None);
        let not_empty = cond("IsNotNullOrEmpty", Given::None);
        assert!(on(&exists, json!(null)) && !missing(&exists));
        assert!(!on(&absent, json!(null)) && missing(&absent));
        assert!(on(&null, json!(null)) && missing(&null) && !on(&null, json!("")));
        assert!(!on(&not_null, json!(null)) && !missing(&not_null) && on(&not_null, json!(0)));
        for v in [json!(null), json!(""), json!([]), json!({})] {
            assert!(on(&empty, v.clone()) && !on(&not_empty, v));
        }
        for v in [
            json!(0),
            json!(false),
            json!(" "),
            json!([null]),
            json!({"a": 1}),
        ] {
            assert!(!on(&empty, v.clone()) && on(&not_empty, v));
        }
        assert!(missing(&empty) && !missing(&not_empty));
    }

    #[test]
    fn ip_tests() {
        let inc = cond("IsIPAddressInCIDR", s("10.0.0.0/8"));
        assert!(on(&inc, json!("10.1.2.3")));
        assert!(!on(&inc, json!("11.1.2.3")));
        assert!(!on(&inc, json!("not an ip")));
        assert!(!on(&inc, json!(167837955)));
        assert!(!missing(&inc));
        let notc = cond("IsIPAddressNotInCIDR", s("10.0.0.0/8"));
        assert!(on(&notc, json!("11.1.2.3")));
        assert!(!on(&notc, json!("10.1.2.3")));
        let v6 = cond("IsIPAddressInCIDR", s("2001:db8::/32"));
        assert!(on(&v6, json!("2001:db8::1")));
        let public = cond("IsIPAddressPublic", Given::None);
        let private = cond("IsIPAddressPrivate", Given::None);
        assert!(on(&public, json!("8.8.8.8")) && !on(&private, json!("8.8.8.8")));
        assert!(!on(&public, json!("10.0.0.1")) && on(&private, json!("10.0.0.1")));
        assert!(!on(&public, json!("x")) && !on(&private, json!("x")));
        assert!(Condition::build("IsIPAddressInCIDR", s("10.0.0.0/33")).is_err());
    }

    #[test]
    fn numeric() {
        let n = |x: i128| Given::One(Literal::Num(Num::Int(x)));
        let gt = cond("IsGreaterThan", n(5));
        assert!(on(&gt, json!(6)) && on(&gt, json!(5.5)) && !on(&gt, json!(5)));
        assert!(!on(&gt, json!("6")) && !missing(&gt));
        let ge = cond("IsGreaterThanOrEquals", n(5));
        assert!(on(&ge, json!(5)) && on(&ge, json!(5.0)) && !on(&ge, json!(4.999)));
        let lt = cond("IsLessThan", n(5));
        assert!(on(&lt, json!(-1)) && !on(&lt, json!(5)) && on(&lt, json!(true)));
        let le = cond(
            "IsLessThanOrEquals",
            Given::One(Literal::Num(Num::Float(0.5))),
        );
        assert!(on(&le, json!(0.5)) && on(&le, json!(0)) && !on(&le, json!(1)));
        let big = cond("IsGreaterThan", n(i128::from(u64::MAX) - 1));
        assert!(on(&big, json!(u64::MAX)));
        assert!(Condition::build("IsGreaterThan", s("5")).is_err());
        assert_eq!(
            Num::Float(f64::NAN).compare(Num::Int(1)),
            None,
            "NaN compares with nothing"
        );
    }

    #[test]
    fn wildcard_values() {
        let eq = cond("Equals", s("a"));
        let ne = cond("DoesNotEqual", s("a"));
        let (a, b) = (json!("a"), json!("b"));
        assert!(eq.holds(&[&b, &a]));
        assert!(!ne.holds(&[&b, &a]), "negation: no element may match");
        assert!(ne.holds(&[&b, &b]));
    }

    #[test]
    fn condition_needles() {
        assert_eq!(
            cond("Equals", s("KeyGet")).needles(),
            Some(vec!["KeyGet".into()])
        );
        assert_eq!(
            cond("IContains", s("Key")).needles(),
            Some(vec!["key".into()])
        );
        assert_eq!(cond("Equals", s("")).needles(), None);
        assert_eq!(cond("Equals", s("é")).needles(), None);
        assert_eq!(cond("DoesNotEqual", s("a")).needles(), None);
        assert_eq!(
            cond("Equals", Given::One(Literal::Num(Num::Int(5)))).needles(),
            None
        );
        assert_eq!(
            cond("IsIn", strs(&["a", "b"])).needles(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(cond("IsIn", strs(&["a", ""])).needles(), None);
        assert_eq!(cond("Exists", Given::None).needles(), None);
    }
}
