//! The prefilter's one pass over a body: its ASCII-lower-cased copy, which the needle search
//! reads, and where its hiding places start.
//!
//! Every hider begins with a backslash or a non-ASCII byte, both rare in Azure records, so the
//! pass notes where those are and each is compared with the hiders once the text is lowered
//! ([`hides`]; UTF-8 continuation bytes are noted too: telling them from lead bytes cost the
//! pass more than they cost [`hides`]).
//! Folding that search into the lower-casing spared a second pass over the body (about 40% of
//! the scan's own time). The pass runs 64 bytes a step: with AVX2 where the CPU has it (two
//! 32-byte lanes, chosen at run time; about half the instructions of SSE2's four 16-byte
//! lanes), else with SSE2, which every x86-64 CPU has, else a byte at a time. A proptest
//! holds every variant to the byte loop.

#[cfg(test)]
use super::HIDERS;

/// Writes `body` ASCII-lower-cased into `lowered` and returns the start of every hiding place
/// in it, ascending.
pub(super) fn lower_and_find_hiders(body: &[u8], lowered: &mut Vec<u8>) -> Vec<usize> {
    lower_and_find_hiders_with(body, lowered, Simd::detect())
}

/// The widest vector instructions the pass may use on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Simd {
    Avx2,
    Sse2,
    /// A byte at a time: other CPUs, and the tests' reference on x86-64.
    #[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
    None,
}

impl Simd {
    fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            // The standard library caches the answer: one atomic load a call.
            if std::arch::is_x86_feature_detected!("avx2") {
                return Simd::Avx2;
            }
            Simd::Sse2
        }
        #[cfg(not(target_arch = "x86_64"))]
        Simd::None
    }

    /// Every variant this machine can run, the byte loop first (for tests).
    #[cfg(test)]
    fn variants() -> Vec<Simd> {
        let mut all = vec![Simd::None];
        if cfg!(target_arch = "x86_64") {
            all.push(Simd::Sse2);
        }
        if Simd::detect() == Simd::Avx2 {
            all.push(Simd::Avx2);
        }
        all
    }
}

fn lower_and_find_hiders_with(body: &[u8], lowered: &mut Vec<u8>, simd: Simd) -> Vec<usize> {
    lowered.clear();
    lowered.reserve(body.len());
    let dst = lowered.as_mut_ptr();
    let mut leads = Vec::new();
    // SAFETY (both calls): `dst` has room for body.len() bytes; each writes a prefix of them,
    // as many as it returns. AVX2 is used only when the CPU reports it.
    let done = match simd {
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => unsafe { x86::blocks_avx2(body, dst, &mut leads) },
        #[cfg(target_arch = "x86_64")]
        Simd::Sse2 => unsafe { x86::blocks_sse2(body, dst, &mut leads) },
        _ => 0,
    };
    for (j, &b) in body.iter().enumerate().skip(done) {
        // SAFETY: j < body.len(), within the reserved capacity.
        unsafe { dst.add(j).write(b.to_ascii_lowercase()) };
        if b == b'\\' || b >= 0x80 {
            leads.push(j);
        }
    }
    // SAFETY: every byte of 0..body.len() was written above.
    unsafe { lowered.set_len(body.len()) };
    let text = lowered.as_slice();
    leads.retain(|&i| hides(&text[i..]));
    leads
}

/// Whether lower-cased text starts with one of [`HIDERS`]: the list written as a match, since
/// comparing a lead with each of them (`memcmp` calls, 38 for a `\u`) was 3.6% of a seed-rule
/// replay's instructions. A test holds it to the list.
#[inline]
fn hides(rest: &[u8]) -> bool {
    match rest {
        [b'\\', b'/', ..] => true,
        [b'\\', b'u', hex @ ..] => matches!(
            hex,
            [b'0', b'0', b'0'..=b'7', ..]
                | [b'0', b'0', b'd', b'f', ..]
                | [b'0', b'1', b'3', b'0' | b'1', ..]
                | [b'0', b'1', b'4', b'9', ..]
                | [b'0', b'1', b'7', b'f', ..]
                | [b'0', b'1', b'f', b'0', ..]
                | [b'1', b'e', b'9', ..]
                | [b'2', b'1', b'2', b'a', ..]
                | [b'f', b'b', b'0', ..]
        ),
        [0xc3, 0x9f, ..] | [0xc4, 0xb0 | 0xb1, ..] | [0xc5, 0x89 | 0xbf, ..] | [0xc7, 0xb0, ..] => {
            true
        }
        [0xe1, 0xba, 0x96..=0x9a | 0x9e, ..]
        | [0xe2, 0x84, 0xaa, ..]
        | [0xef, 0xac, 0x80..=0x86, ..] => true,
        _ => false,
    }
}

/// Pushes the lead bits of the 64 bytes at `base` to `leads`.
#[inline(always)]
fn push_leads(leads: &mut Vec<usize>, base: usize, mut mask: u64) {
    while mask != 0 {
        leads.push(base + mask.trailing_zeros() as usize);
        mask &= mask - 1;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::push_leads;
    use std::arch::x86_64::*;

    /// `b'A'..=b'Z'` plus this are -128..=-103 as signed bytes, the only ones below -102.
    const SHIFT: i8 = 0x80u8.wrapping_sub(b'A') as i8;

    /// Lowers the whole 64-byte blocks of `body` into `dst` and notes their backslashes and
    /// non-ASCII bytes; returns how many bytes it did.
    ///
    /// # Safety
    /// `dst` must be valid for `body.len()` bytes of writes.
    pub(super) unsafe fn blocks_sse2(body: &[u8], dst: *mut u8, leads: &mut Vec<usize>) -> usize {
        // One 16-byte lane: lowers it into `dst` and returns its lead mask.
        #[inline(always)]
        unsafe fn lane(src: *const u8, dst: *mut u8) -> u64 {
            let v = _mm_loadu_si128(src.cast::<__m128i>());
            let upper = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(SHIFT)), _mm_set1_epi8(-102));
            let lower = _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
            _mm_storeu_si128(dst.cast::<__m128i>(), lower);
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // The high bit of each byte: non-ASCII.
            u64::from(_mm_movemask_epi8(_mm_or_si128(v, backslash)) as u16)
        }
        let src = body.as_ptr();
        let mut i = 0;
        while i + 64 <= body.len() {
            // SAFETY: SSE2 is part of the x86-64 baseline; the loads read body[i..i + 64], in
            // bounds by the loop condition, the stores write the same range of `dst`, and
            // neither needs alignment.
            let mask = unsafe {
                lane(src.add(i), dst.add(i))
                    | lane(src.add(i + 16), dst.add(i + 16)) << 16
                    | lane(src.add(i + 32), dst.add(i + 32)) << 32
                    | lane(src.add(i + 48), dst.add(i + 48)) << 48
            };
            push_leads(leads, i, mask);
            i += 64;
        }
        i
    }

    /// [`blocks_sse2`] with two 32-byte lanes.
    ///
    /// # Safety
    /// As [`blocks_sse2`], and the CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn blocks_avx2(body: &[u8], dst: *mut u8, leads: &mut Vec<usize>) -> usize {
        let src = body.as_ptr();
        let mut i = 0;
        while i + 64 <= body.len() {
            let mut mask = 0u64;
            for half in [0, 32] {
                // SAFETY: the load reads body[i + half..][..32], in bounds by the loop
                // condition; the store writes the same range of `dst`; neither needs
                // alignment; the caller checked for AVX2.
                let lane = unsafe {
                    let v = _mm256_loadu_si256(src.add(i + half).cast::<__m256i>());
                    // AVX2 has no signed less-than: -102 > shifted.
                    let shifted = _mm256_add_epi8(v, _mm256_set1_epi8(SHIFT));
                    let upper = _mm256_cmpgt_epi8(_mm256_set1_epi8(-102), shifted);
                    let lower = _mm256_or_si256(v, _mm256_and_si256(upper, _mm256_set1_epi8(0x20)));
                    _mm256_storeu_si256(dst.add(i + half).cast::<__m256i>(), lower);
                    let backslash = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\\' as i8));
                    _mm256_movemask_epi8(_mm256_or_si256(v, backslash)) as u32
                };
                mask |= u64::from(lane) << half;
            }
            push_leads(leads, i, mask);
            i += 64;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// [`hides`] answers as the list does: for every hider with any one byte changed, cut
    /// short or followed by more, every `\u` with four hex digits and every pair of bytes.
    #[test]
    fn hides_is_the_list() {
        let listed = |t: &[u8]| HIDERS.iter().any(|h| t.starts_with(h));
        let mut texts: Vec<Vec<u8>> = Vec::new();
        for h in HIDERS {
            for len in 0..=h.len() {
                texts.push(h[..len].to_vec());
                texts.push([&h[..len], b"0f"].concat());
            }
            for at in 0..h.len() {
                for x in 0..=255 {
                    let mut t = h.to_vec();
                    t[at] = x;
                    texts.push(t);
                }
            }
        }
        let hex = b"0123456789abcdefg";
        for a in hex {
            for b in hex {
                for c in hex {
                    for d in hex {
                        texts.push(vec![b'\\', b'u', *a, *b, *c, *d]);
                    }
                }
            }
        }
        for a in 0..=255 {
            for b in 0..=255 {
                texts.push(vec![a, b]);
            }
        }
        for t in &texts {
            assert_eq!(hides(t), listed(t), "{t:x?}");
        }
    }

    proptest! {
        /// Every variant of the pass lower-cases as `to_ascii_lowercase` does and finds the
        /// hiders the plain byte loop finds in the lowered text, at every length and alignment
        /// (hiders across its lanes and 64-byte steps included).
        #[test]
        fn lowers_and_finds_hiders_as_the_byte_loop(
            text in proptest::collection::vec(prop_oneof![
                any::<u8>(),
                Just(b'\\'), Just(b'u'), Just(b'U'), Just(b'0'), Just(b'd'), Just(b'D'),
                Just(b'f'), Just(b'F'), Just(b'@'), Just(b'['), Just(b'Z'), Just(b'A'),
                Just(0xc3), Just(0x9f),
            ], 0..300),
        ) {
            let lower = text.to_ascii_lowercase();
            let expected: Vec<usize> = (0..lower.len())
                .filter(|&i| HIDERS.iter().any(|h| lower[i..].starts_with(h)))
                .collect();
            for simd in Simd::variants() {
                let mut lowered = b"left over".to_vec();
                prop_assert_eq!(lower_and_find_hiders_with(&text, &mut lowered, simd), expected.clone());
                prop_assert_eq!(&lowered, &lower);
            }
        }
    }
}
