//! The prefilter: a proof, from raw bytes alone, that no rule can match a record.
//!
//! Rules name needles: strings at least one of which appears, in some ASCII casing, in the raw
//! JSON of every record they can match, provided nothing hides it. What can hide a needle:
//! - an escape that decodes to an ASCII character (`\u0000`-`\u007f`) or a slash (`\/`);
//!   `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t` cannot spell a needle character;
//! - a character whose Unicode upper-, lower- or case-folded form holds ASCII, written raw or as
//!   a `\u` escape: U+00DF, U+0130, U+0131, U+0149, U+017F, U+01F0, U+1E96-U+1E9E, U+212A,
//!   U+FB00-U+FB06 (Python's `str.upper` turns the long s into `S`; the Kelvin sign lowers to
//!   `k`). Raw ones are caught by the first two UTF-8 bytes of their block.
//!
//! Each body is ASCII-lower-cased into a scratch buffer once, then one multi-pattern search
//! (SIMD, case-sensitive on the lowered text) finds needles and hiding places together. A record
//! with no hit cannot match and is never parsed.

use aho_corasick::{AhoCorasick, MatchKind};
use std::cell::RefCell;

/// Byte patterns (on lower-cased text) that may hide a needle.
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
    b"\xe1\xba",
    b"\xe2\x84",
    b"\xef\xac",
];

thread_local! {
    static LOWERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Needles of every rule plus the hiding places, searched in one pass.
#[derive(Debug)]
pub struct Prefilter {
    search: AhoCorasick,
}

/// Where a body may hold a match.
#[derive(Debug, PartialEq, Eq)]
pub enum Hits {
    /// No record of the body can match.
    None,
    /// Byte offsets (into the body) where a needle or hiding place starts, ascending.
    At(Vec<usize>),
}

impl Prefilter {
    /// `None` when some rule has no needles (every record must then be evaluated).
    pub fn new(needles: Option<Vec<String>>) -> Option<Prefilter> {
        let mut patterns: Vec<Vec<u8>> = needles?
            .into_iter()
            .map(|n| n.to_ascii_lowercase().into_bytes())
            .collect();
        if patterns.iter().any(|p| p.is_empty()) {
            return None;
        }
        patterns.extend(HIDERS.iter().map(|h| h.to_vec()));
        // Leftmost-first lets the searcher use its SIMD (Teddy) engine.
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(&patterns)
            .ok()
            .map(|search| Prefilter { search })
    }

    /// Every offset of the body where a record may match.
    pub fn scan(&self, body: &[u8]) -> Hits {
        LOWERED.with(|buf| {
            let mut lowered = buf.borrow_mut();
            lowered.clear();
            lowered.extend(body.iter().map(u8::to_ascii_lowercase));
            // Leftmost-first matches suffice to mark records: no pattern spans two records.
            let hits: Vec<usize> = self
                .search
                .find_iter(lowered.as_slice())
                .map(|m| m.start())
                .collect();
            if hits.is_empty() {
                Hits::None
            } else {
                Hits::At(hits)
            }
        })
    }
}

impl Hits {
    /// Whether `range` (a record's byte range in the body) holds a hit.
    pub fn any_in(&self, range: std::ops::Range<usize>) -> bool {
        match self {
            Hits::None => false,
            Hits::At(starts) => {
                let i = starts.partition_point(|&s| s < range.start);
                starts.get(i).is_some_and(|&s| s < range.end)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf() -> Prefilter {
        Prefilter::new(Some(vec!["keys/re".into()])).unwrap_or_else(|| unreachable!())
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
        ] {
            assert_ne!(p.scan(hidden.as_bytes()), Hits::None, "{hidden}");
        }
        // Escapes and characters that cannot spell a needle character are no hiding place.
        for plain in [
            r#"{"name":"J\u00f6rg \"q\" \\ \n"}"#,
            "{\"name\":\"Zo\u{eb} Ng\u{1ec5}\"}",
        ] {
            assert_eq!(p.scan(plain.as_bytes()), Hits::None, "{plain}");
        }
    }

    #[test]
    fn hits_map_to_records() {
        let h = Hits::At(vec![5, 40]);
        assert!(h.any_in(0..10));
        assert!(!h.any_in(10..40));
        assert!(h.any_in(40..41));
        assert!(!Hits::None.any_in(0..100));
    }

    #[test]
    fn no_prefilter_without_needles() {
        assert!(Prefilter::new(None).is_none());
        assert!(Prefilter::new(Some(vec![String::new()])).is_none());
    }
}
