//! The prefilter: a proof, from raw bytes alone, that no rule can match a record.
//!
//! Rules name needles: strings at least one of which appears, in some ASCII casing, in the raw
//! JSON of every record they can match, provided nothing hides it. What can hide a needle:
//! - an escape that decodes to an ASCII character (`\u0000`-`\u007f`) or a slash (`\/`);
//!   `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` cannot spell a needle character;
//! - a character whose Unicode upper-, lower- or case-folded form holds ASCII, written raw or as
//!   a `\u` escape: U+00DF, U+0130, U+0131, U+0149, U+017F, U+01F0, U+1E96-U+1E9A, U+1E9E, U+212A,
//!   U+FB00-U+FB06 (Python's `str.upper` turns the long s into `S`; the Kelvin sign lowers to
//!   `k`); the list is every character for which Python 3.11's `upper`, `lower`, `casefold`,
//!   `title` or `swapcase` yields ASCII. Raw ones are matched by their exact UTF-8 bytes.
//!
//! Each body is ASCII-lower-cased into a scratch buffer once, in the pass that also notes its
//! backslashes and non-ASCII bytes (where hiding places can start); one SIMD search then finds
//! the needles' anchors (each verified in place against the needles holding it). A record with
//! no hit cannot match and is never parsed. A record with a hit goes only to the rules whose
//! needles it holds ([`Prefilter::route_in`]), or to every rule when it holds a hiding place.

mod lower;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use lower::lower_and_find_hiders;
use std::cell::RefCell;
use std::ops::Range;

/// Byte patterns (on lower-cased text) that may hide a needle: the list the pass matches
/// (`lower::hides`, written as a `match`) and the reference its tests hold it to.
#[cfg(test)]
const HIDERS: &[&[u8]] = &[
    b"\\/",
    b"\\u000",
    b"\\u001",
    b"\\u002",
    b"\\u003",
    b"\\u004",
    b"\\u005",
    b"\\u006",
    b"\\u007",
    b"\\u00df",
    b"\\u0130",
    b"\\u0131",
    b"\\u0149",
    b"\\u017f",
    b"\\u01f0",
    b"\\u1e9",
    b"\\u212a",
    b"\\ufb0",
    b"\xc3\x9f",
    b"\xc4\xb0",
    b"\xc4\xb1",
    b"\xc5\x89",
    b"\xc5\xbf",
    b"\xc7\xb0",
    // U+1E96-U+1E9A and U+1E9E, exactly: the rest of their block (Vietnamese letters) maps to
    // nothing ASCII.
    b"\xe1\xba\x96",
    b"\xe1\xba\x97",
    b"\xe1\xba\x98",
    b"\xe1\xba\x99",
    b"\xe1\xba\x9a",
    b"\xe1\xba\x9e",
    // The Kelvin sign, U+212A.
    b"\xe2\x84\xaa",
    // The ligatures U+FB00-U+FB06.
    b"\xef\xac\x80",
    b"\xef\xac\x81",
    b"\xef\xac\x82",
    b"\xef\xac\x83",
    b"\xef\xac\x84",
    b"\xef\xac\x85",
    b"\xef\xac\x86",
];

thread_local! {
    static LOWERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Needles of every rule plus the hiding places.
///
/// The SIMD search does not look for whole needles: it finds candidates by the first bytes of
/// each pattern, and needles of one provider share them (`storage/storageaccounts/...`) with
/// the resource ids every record holds. It looks for an anchor of each needle instead (see
/// [`anchor_at`]), and each anchor occurrence is verified against the needles holding it, in
/// place. One pass finds every needle occurrence, so a record's rules come from the scan of its
/// body and no record is searched twice.
#[derive(Debug)]
pub struct Prefilter {
    /// The anchors, prefix-free: at most one matches at any offset, so a leftmost-first
    /// search restarted one byte after each match finds every occurrence of every anchor.
    anchors: AhoCorasick,
    /// For each anchor, the needles that hold it.
    verify: Vec<Vec<Holder>>,
    /// The needle texts (ASCII lower-cased).
    needles: Vec<Vec<u8>>,
    /// For each needle, the rules (by index) that named it.
    owners: Vec<Vec<usize>>,
    rules: usize,
}

/// A needle holding an anchor at `offset`.
#[derive(Debug)]
struct Holder {
    needle: usize,
    offset: usize,
    /// The four needle bytes before the anchor, when there are four: one compare rejects most
    /// occurrences of a common anchor (`/write`) that belong to another operation.
    before: Option<[u8; 4]>,
}

/// Which rules a record goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    All,
    /// Rule indices, ascending, never empty.
    Some(Vec<usize>),
}

impl Route {
    pub fn includes(&self, rule: usize) -> bool {
        match self {
            Route::All => true,
            Route::Some(rules) => rules.binary_search(&rule).is_ok(),
        }
    }
}

/// Where a body may hold a match.
#[derive(Debug, PartialEq, Eq)]
pub enum Hits {
    /// No record of the body can match.
    None,
    At(Found),
}

/// Byte offsets (into the scanned text) of needle occurrences and hiding places.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    /// (start, needle), ascending.
    needles: Vec<(usize, usize)>,
    /// Starts of hiding places, ascending.
    hidden: Vec<usize>,
}

impl Prefilter {
    /// `needles[i]` are rule `i`'s needles; `None` when some rule has none (every record must
    /// then be evaluated by every rule).
    pub fn new(needles: Option<Vec<Vec<String>>>) -> Option<Prefilter> {
        let needles = needles?;
        let mut by_needle: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        for (rule, list) in needles.iter().enumerate() {
            for n in list {
                let p = literal_run(&n.to_ascii_lowercase()).to_vec();
                if p.is_empty() {
                    return None;
                }
                match by_needle.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, owners)) if !owners.contains(&rule) => owners.push(rule),
                    Some(_) => {}
                    None => by_needle.push((p, vec![rule])),
                }
            }
        }
        // Shortest anchors first, so that an anchor with a kept prefix folds into it: the
        // prefix occurs wherever the longer anchor does, at the same offset of the needle.
        let mut wanted: Vec<(&[u8], usize, usize)> = by_needle
            .iter()
            .enumerate()
            .map(|(i, (n, _))| {
                let at = anchor_at(n);
                (&n[at..], i, at)
            })
            .collect();
        wanted.sort_by_key(|(a, _, _)| a.len());
        let mut anchors: Vec<&[u8]> = Vec::new();
        let mut verify: Vec<Vec<Holder>> = Vec::new();
        for (anchor, needle, at) in wanted {
            let slot = match anchors.iter().position(|a| anchor.starts_with(a)) {
                Some(slot) => slot,
                None => {
                    anchors.push(anchor);
                    verify.push(Vec::new());
                    anchors.len() - 1
                }
            };
            let n = &by_needle[needle].0;
            verify[slot].push(Holder {
                needle,
                offset: at,
                before: at.checked_sub(4).and_then(|b| n[b..at].try_into().ok()),
            });
        }
        // Leftmost-first lets the searcher use its SIMD (Teddy) engine.
        let leftmost = |patterns: &[&[u8]]| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(patterns)
                .ok()
        };
        Some(Prefilter {
            anchors: leftmost(&anchors)?,
            verify,
            needles: by_needle.iter().map(|(n, _)| n.clone()).collect(),
            owners: by_needle.into_iter().map(|(_, o)| o).collect(),
            rules: needles.len(),
        })
    }

    /// Every needle occurrence and hiding place in a body.
    pub fn scan(&self, body: &[u8]) -> Hits {
        LOWERED.with(|buf| {
            let mut lowered = buf.borrow_mut();
            let hidden = lower_and_find_hiders(body, &mut lowered);
            let text = lowered.as_slice();
            let mut needles = Vec::new();
            let mut from = 0;
            while let Some(m) = self.anchors.find(Input::new(text).span(from..text.len())) {
                let at = m.start();
                for h in &self.verify[m.pattern().as_usize()] {
                    let Some(start) = at.checked_sub(h.offset) else {
                        continue;
                    };
                    if h.before.is_some_and(|b| text[at - 4..at] != b) {
                        continue;
                    }
                    let needle = &self.needles[h.needle];
                    if text.get(start..start + needle.len()) == Some(needle.as_slice()) {
                        needles.push((start, h.needle));
                    }
                }
                from = at + 1;
            }
            if needles.is_empty() && hidden.is_empty() {
                return Hits::None;
            }
            needles.sort_unstable();
            Hits::At(Found { needles, hidden })
        })
    }

    /// The rules that can match the record at `range` of a scanned `body`: those whose needles
    /// start in it; `None` when no rule can match it. A record holding a hiding place is
    /// searched again with its ASCII escapes (`\/`, `\u0000`-`\u007f`) written out, which is
    /// what Azure's `\/` usually is; if a hiding place remains, it goes to every rule.
    pub fn route_in(&self, hits: &Hits, body: &[u8], range: Range<usize>) -> Option<Route> {
        let Hits::At(found) = hits else {
            return None;
        };
        let first = found.hidden.partition_point(|&s| s < range.start);
        if found.hidden.get(first).is_some_and(|&s| s < range.end) {
            let written = unescape_ascii(body.get(range)?);
            return match self.scan(&written) {
                Hits::At(again) if again.hidden.is_empty() => self.rules_of(&again.needles),
                Hits::At(_) => Some(Route::All),
                Hits::None => None,
            };
        }
        let first = found.needles.partition_point(|&(s, _)| s < range.start);
        let last = first
            + found.needles[first..]
                .iter()
                .take_while(|(s, _)| *s < range.end)
                .count();
        self.rules_of(&found.needles[first..last])
    }

    /// The rules owning these needle occurrences; `None` when there are none.
    fn rules_of(&self, needles: &[(usize, usize)]) -> Option<Route> {
        // Most records of a body with a hit hold none.
        if needles.is_empty() {
            return None;
        }
        let mut rules = vec![false; self.rules];
        let mut any = false;
        for &(_, needle) in needles {
            for &r in &self.owners[needle] {
                rules[r] = true;
                any = true;
            }
        }
        any.then(|| Route::Some((0..self.rules).filter(|&r| rules[r]).collect()))
    }

    /// The rules that can match a record, from its own text.
    pub fn route(&self, record: &[u8]) -> Option<Route> {
        self.route_in(&self.scan(record), record, 0..record.len())
    }
}

/// JSON text with its escapes of ASCII characters written out (`\/` as `/`, `\u0041` as `A`)
/// and the others kept (`\u00e9`) or blanked (`\\`, `\n`), read left to right so that
/// `\\u0041` is not an escape. What is kept or blanked cannot spell a needle character:
/// needles hold no `"`, `\\` or control character (see [`literal_run`]), and the non-ASCII
/// characters that case-map to ASCII are hiding places of their own.
fn unescape_ascii(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = memchr::memchr(b'\\', rest) {
        out.extend_from_slice(&rest[..i]);
        rest = &rest[i..];
        let ascii = match rest.get(1) {
            Some(b'/') => Some((b'/', 2)),
            Some(b'u') => rest
                .get(2..6)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .filter(|c| c.is_ascii())
                .map(|c| (c, 6)),
            _ => None,
        };
        let taken = match ascii {
            Some((c, len)) => {
                out.push(c);
                len
            }
            // A non-ASCII `\u`: kept, for the search for hiding places.
            None if rest.get(1) == Some(&b'u') => {
                out.push(b'\\');
                1
            }
            // `\\`, `\"`, `\n`, ...: written as NULs, which no needle or hiding place holds,
            // so that `\\/` does not read as `\/`.
            None => {
                let len = rest.len().min(2);
                out.extend(std::iter::repeat_n(0, len));
                len
            }
        };
        rest = &rest[taken..];
    }
    out.extend_from_slice(rest);
    out
}

/// The longest part of a needle that JSON text holds as written: `"`, `\\` and control
/// characters are always escaped in JSON strings, so a needle holding one appears only in parts.
fn literal_run(needle: &str) -> &[u8] {
    needle
        .as_bytes()
        .split(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .max_by_key(|run| run.len())
        .unwrap_or_default()
}

/// Where, in a (lower-cased) needle, the part the search looks for starts. Any substring of a
/// needle is in every text the needle is in; the SIMD search finds candidates by a pattern's
/// first bytes, so the part should not start with text every record holds:
/// - an operation (`microsoft.storage/storageaccounts/write`) from its last segment with the
///   slash (`/write`): the provider and resource type are in every resource id, the verb is
///   only in operation names;
/// - otherwise after `microsoft.`, which starts every provider name and claim URL.
fn anchor_at(needle: &[u8]) -> usize {
    let slash = (0..needle.len())
        .rev()
        .find(|&i| needle[i] == b'/' && needle.len() - i >= 5);
    match slash {
        Some(i) => i,
        None if needle.starts_with(b"microsoft.") && needle.len() >= 22 => 10,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf() -> Prefilter {
        Prefilter::new(Some(vec![vec!["keys/re".into()]])).unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn needles_in_any_casing_and_hiding_places() {
        let p = pf();
        assert_eq!(p.scan(br#"{"op":"nothing here"}"#), Hits::None);
        assert_ne!(p.scan(br#"{"op":"KeYs/rEAD"}"#), Hits::None);
        for hidden in [
            r#"{"op":"keys\/read"}"#,
            r#"{"op":"\u006beys"}"#,
            r#"{"op":"\u004Beys"}"#,
            "{\"op\":\"micro\u{17f}oft\"}",
            r#"{"op":"micro\u017Foft"}"#,
            "{\"op\":\"\u{212a}eys\"}",
            "{\"op\":\"\u{1e9e}\"}",
            "{\"op\":\"\u{fb01}\"}",
        ] {
            assert_ne!(p.scan(hidden.as_bytes()), Hits::None, "{hidden}");
        }
        // Escapes and characters that cannot spell a needle character are no hiding place.
        for plain in [
            r#"{"name":"J\u00f6rg \"q\" \\ \n"}"#,
            "{\"name\":\"Zo\u{eb} Ng\u{1ec5}\"}",
            // Vietnamese letters beside the hiding places of U+1E96-U+1E9E; Ohm and Angstrom
            // beside the Kelvin sign: their case mappings hold no ASCII.
            "{\"name\":\"Tr\u{1ea7}n Th\u{1ecb} Ng\u{1ecd}c \u{1ea1}\u{1e9b}\"}",
            "{\"unit\":\"\u{2126} \u{212b}\"}",
        ] {
            assert_eq!(p.scan(plain.as_bytes()), Hits::None, "{plain}");
        }
    }

    #[test]
    fn records_route_to_the_rules_whose_needles_they_hold() {
        let p = Prefilter::new(Some(vec![
            vec!["microsoft.storage/storageaccounts/write".into()],
            vec!["blobservices/write".into()],
            vec!["keys/re".into()],
            // Its anchor overlaps rule 2's in `keys/read`.
            vec!["/read".into()],
            // Its anchor `/writeonce` folds into `/write`.
            vec!["a/writeonce".into()],
        ]))
        .unwrap_or_else(|| unreachable!());
        let one = r#"{"op":"Microsoft.Storage/storageAccounts/blobServices/WRITE"}"#;
        let two = r#"{"op":"vaults/KEYS/READ","x":"a/writeOnce"}"#;
        let three = r#"{"op":"microsoft.storage/storageaccounts/read/write"}"#;
        let body = format!("[{one},{two},{three}]");
        let hits = p.scan(body.as_bytes());
        let at = |r: &str| {
            let s = body.find(r).unwrap_or_else(|| unreachable!());
            p.route_in(&hits, body.as_bytes(), s..s + r.len())
        };
        assert_eq!(at(one), Some(Route::Some(vec![1])));
        assert_eq!(at(two), Some(Route::Some(vec![2, 3, 4])));
        assert_eq!(at(three), Some(Route::Some(vec![3])));
        assert_eq!(p.route_in(&hits, body.as_bytes(), 0..1), None);
        assert_eq!(p.route(br#"{"op":"storageaccounts/write"}"#), None);
    }

    #[test]
    fn records_with_ascii_escapes_are_searched_again() {
        let p = Prefilter::new(Some(vec![
            vec!["microsoft.keyvault/vaults/delete".into()],
            vec!["keyget".into()],
        ]))
        .unwrap_or_else(|| unreachable!());
        let r = |t: &str| p.route(t.as_bytes());
        assert_eq!(
            r(r#"{"op":"Microsoft.KeyVault\/vaults\/DELETE"}"#),
            Some(Route::Some(vec![0]))
        );
        assert_eq!(r(r#"{"op":"\u004beyGet"}"#), Some(Route::Some(vec![1])));
        assert_eq!(r(r#"{"id":"\/subscriptions\/s"}"#), None);
        // `\\u006b` is a backslash and the text `u006b`, no `k`.
        assert_eq!(r(r#"{"op":"\\u006beyget"}"#), None);
        assert_eq!(r(r#"{"op":"\\\/keyget"}"#), Some(Route::Some(vec![1])));
        // An escape that writes out a hiding place, and a case-mapping one, go everywhere.
        assert_eq!(r(r#"{"op":"\u005c/"}"#), Some(Route::All));
        assert_eq!(r(r#"{"op":"\u212aeyget"}"#), Some(Route::All));
        assert_eq!(r("{\"op\":\"\\/\u{17f}\"}"), Some(Route::All));
    }

    #[test]
    fn needles_with_characters_json_escapes() {
        let p = Prefilter::new(Some(vec![vec!["say \"hi\"\tnow".into()]]))
            .unwrap_or_else(|| unreachable!());
        assert!(p.route(br#"{"m":"SAY \"hi\"\tnow"}"#).is_some());
        assert!(p.route(br#"{"m":"hi now"}"#).is_none());
        assert!(Prefilter::new(Some(vec![vec!["\"\\".into()]])).is_none());
    }

    #[test]
    fn no_prefilter_without_needles() {
        assert!(Prefilter::new(None).is_none());
        assert!(Prefilter::new(Some(vec![vec![String::new()]])).is_none());
    }
}
