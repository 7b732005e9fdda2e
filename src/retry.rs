//! The retry policy every part of hubwatch uses: exponential backoff with jitter, the server's
//! `Retry-After`, and which HTTP statuses are worth another attempt.
//!
//! Users: the sinks' workers (and their dead-letter writes), the pipeline's dead-letter
//! writes, `redrive`, the Blob Storage client (checkpoints, backfill) and start-up.

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// The first delay.
pub(crate) const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The longest delay of [`backoff`].
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Exponential backoff from [`BACKOFF_BASE`] with jitter, at most [`BACKOFF_MAX`].
pub(crate) fn backoff(attempt: u32) -> Duration {
    backoff_capped(attempt, BACKOFF_MAX)
}

/// Exponential backoff from [`BACKOFF_BASE`] with jitter, at most `max`.
pub(crate) fn backoff_capped(attempt: u32, max: Duration) -> Duration {
    backoff_from(BACKOFF_BASE, attempt, max)
}

/// `base` doubled per attempt up to `max`, then a uniformly random part of it between half and
/// all (so that replicas retrying together spread out).
pub(crate) fn backoff_from(base: Duration, attempt: u32, max: Duration) -> Duration {
    let cap = base
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(max);
    let cap_ms = cap.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(cap_ms / 2..=cap_ms))
}

/// `Retry-After` as delay-seconds or an HTTP date (a date in the past means now).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Statuses another attempt may cure: 408, 429 and every 5xx.
pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retries_back_off_to_the_cap_and_no_further() {
        let cap = Duration::from_secs(4);
        for attempt in 0..40 {
            let wait = backoff_capped(attempt, cap);
            let full = BACKOFF_BASE
                .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
                .min(cap);
            assert!(wait <= full && wait >= full / 2, "{attempt}: {wait:?}");
        }
        // From the fifth attempt on a sink that is down is tried every 2-4 s.
        assert!(backoff_capped(5, cap) >= Duration::from_secs(2));
        assert!(backoff(30) <= BACKOFF_MAX);
        let b = backoff_from(Duration::from_millis(10), 3, Duration::from_secs(1));
        assert!(b >= Duration::from_millis(40) && b <= Duration::from_millis(80));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        h.insert(RETRY_AFTER, HeaderValue::from_str(&earlier).unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn transient_statuses() {
        assert!([408, 429, 500, 503, 599]
            .iter()
            .all(|&s| is_transient_status(s)));
        assert!(![200, 400, 401, 404, 413]
            .iter()
            .any(|&s| is_transient_status(s)));
    }
}
