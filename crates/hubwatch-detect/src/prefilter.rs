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
//! with no hit cannot match and is never parsed. A record with a hit goes only to the rules whose
//! needles it holds ([`Prefilter::route`], an overlapping search over that record alone), or to
//! every rule when it holds a hiding place.

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
    /// The needles. Kept apart from the hiding places: the SIMD search finds candidates by the
    /// first bytes of each pattern, as many as the shortest pattern has, and the two-byte hiding
    /// places would make it look for two-byte prefixes of every needle, which ordinary text is
    /// full of.
    /// In groups of at most [`GROUP`] patterns: Teddy's false candidates grow with the number of
    /// patterns sharing its buckets, so several small searches beat one large one.
    needles: Vec<AhoCorasick>,
    hiders: AhoCorasick,
    /// The needles again, every occurrence (overlapping), for routing one record.
    route: AhoCorasick,
    /// For each needle pattern, the rules (by index) that named it.
    owners: Vec<Vec<usize>>,
    rules: usize,
}

/// Needle patterns per SIMD search (see [`Prefilter::needles`]).
const GROUP: usize = 16;

/// Which rules a record goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    All,
    /// Rule indices, ascending.
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
    /// Byte offsets (into the body) where a needle or hiding place starts, ascending.
    At(Vec<usize>),
}

impl Prefilter {
    /// `needles[i]` are rule `i`'s needles; `None` when some rule has none (every record must
    /// then be evaluated by every rule).
    pub fn new(needles: Option<Vec<Vec<String>>>) -> Option<Prefilter> {
        let needles = needles?;
        let mut by_pattern: Vec<(Vec<u8>, Vec<usize>)> = Vec::new();
        for (rule, list) in needles.iter().enumerate() {
            for n in list {
                let p = anchor(&n.to_ascii_lowercase()).as_bytes().to_vec();
                if p.is_empty() {
                    return None;
                }
                match by_pattern.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, owners)) if !owners.contains(&rule) => owners.push(rule),
                    Some(_) => {}
                    None => by_pattern.push((p, vec![rule])),
                }
            }
        }
        let patterns: Vec<&[u8]> = by_pattern.iter().map(|(p, _)| p.as_slice()).collect();
        // Leftmost-first lets the searcher use its SIMD (Teddy) engine.
        let leftmost = |patterns: &[&[u8]]| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(patterns)
                .ok()
        };
        Some(Prefilter {
            needles: patterns
                .chunks(GROUP)
                .map(leftmost)
                .collect::<Option<Vec<_>>>()?,
            hiders: leftmost(HIDERS)?,
            route: AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .ok()?,
            owners: by_pattern.into_iter().map(|(_, o)| o).collect(),
            rules: needles.len(),
        })
    }

    /// The rules that can match a record whose text holds a hit: those whose needles occur in
    /// it (every occurrence, overlapping ones too), or all when a hiding place occurs.
    pub fn route(&self, record: &[u8]) -> Route {
        LOWERED.with(|buf| {
            let mut lowered = buf.borrow_mut();
            lowered.clear();
            lowered.extend(record.iter().map(u8::to_ascii_lowercase));
            if self.hiders.is_match(lowered.as_slice()) {
                return Route::All;
            }
            let mut rules = vec![false; self.rules];
            for m in self.route.find_overlapping_iter(lowered.as_slice()) {
                self.owners[m.pattern().as_usize()]
                    .iter()
                    .for_each(|&r| rules[r] = true);
            }
            Route::Some((0..self.rules).filter(|&r| rules[r]).collect())
        })
    }

    /// Every offset of the body where a record may match.
    pub fn scan(&self, body: &[u8]) -> Hits {
        LOWERED.with(|buf| {
            let mut lowered = buf.borrow_mut();
            lowered.clear();
            lowered.extend(body.iter().map(u8::to_ascii_lowercase));
            // Leftmost-first matches suffice to mark records: no pattern spans two records.
            let text = lowered.as_slice();
            let mut hits: Vec<usize> = Vec::new();
            for group in self.needles.iter().chain(std::iter::once(&self.hiders)) {
                hits.extend(group.find_iter(text).map(|m| m.start()));
            }
            hits.sort_unstable();
            if hits.is_empty() {
                Hits::None
            } else {
                Hits::At(hits)
            }
        })
    }
}

/// The part of a needle the search looks for: a substring of a needle is in every text the
/// needle is in, and the SIMD search verifies candidates found by a pattern's first bytes, so a
/// pattern should not start with text every record holds. `microsoft.` starts every provider
/// name (and claim URL), so operation needles are searched from the segment after it.
fn anchor(needle: &str) -> &str {
    match needle.strip_prefix("microsoft.") {
        Some(rest) if rest.len() >= 12 => rest,
        _ => needle,
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
        assert!(Prefilter::new(Some(vec![vec![String::new()]])).is_none());
    }
}
