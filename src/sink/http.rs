//! What the HTTP sinks share: one POST attempt and the classification of its outcome.
//!
//! Connect errors, timeouts, 408, 429 and 5xx are transient (with the server's `Retry-After`,
//! in seconds or as an HTTP date); other 4xx are permanent. Messages name the destination by
//! `scheme://host[:port]` only: webhook URLs carry secrets in their path and query.

use super::SinkError;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use std::time::{Duration, SystemTime};

/// Longest error-body excerpt kept in a message.
const BODY_EXCERPT: usize = 256;

/// `scheme://host[:port]` of a URL: the only part of it that may be logged.
pub(super) fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// A client with the configured per-request timeout (rustls, no redirects: a redirected POST
/// would be replayed to a host the configuration did not name).
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| crate::azure::error_chain(&e.without_url()))
}

/// Sends one request and classifies the outcome; `Ok` only for a 2xx answer.
pub(super) async fn send(request: reqwest::RequestBuilder, origin: &str) -> Result<(), SinkError> {
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let retry_after = crate::retry::retry_after(response.headers(), SystemTime::now());
            let body = response.text().await.unwrap_or_default();
            Err(classify_status(status, retry_after, origin, &body))
        }
        Err(e) => Err(classify_reqwest(e, origin)),
    }
}

/// The error for a non-2xx status.
pub(super) fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    origin: &str,
    body: &str,
) -> SinkError {
    let excerpt = excerpt(body);
    let message = if excerpt.is_empty() {
        format!("{origin} answered {status}")
    } else {
        format!("{origin} answered {status}: {excerpt}")
    };
    if crate::retry::is_transient_status(status.as_u16()) {
        SinkError::Transient {
            message,
            retry_after,
        }
    } else {
        SinkError::permanent(message)
    }
}

/// The error for a request that got no answer (connect error, timeout, broken body...).
pub(super) fn classify_reqwest(e: reqwest::Error, origin: &str) -> SinkError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connect error"
    } else {
        "request failed"
    };
    let builder = e.is_builder();
    let detail = crate::azure::error_chain(&e.without_url());
    if builder {
        // A request that cannot even be built will not build next time either.
        return SinkError::permanent(format!("{origin}: {what}: {detail}"));
    }
    SinkError::transient(format!("{origin}: {what}: {detail}"))
}

/// A header value that is known to be valid (ASCII without control characters), or an error.
pub(super) fn header_value(value: &str, what: &str) -> Result<HeaderValue, SinkError> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| SinkError::permanent(format!("{what} is not a valid header value")))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Packs JSON texts into JSON-array bodies of at most `limit` bytes each, in order. Fails with
/// the index of an item that cannot fit even alone.
pub(super) fn pack_json_arrays(items: &[String], limit: usize) -> Result<Vec<Vec<u8>>, usize> {
    let mut bodies = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.len() + 2 > limit {
            return Err(i);
        }
        // `[` + items joined by `,` + `]`.
        if !current.is_empty() && current.len() + 1 + item.len() + 1 > limit {
            current.push(b']');
            bodies.push(std::mem::take(&mut current));
        }
        current.push(if current.is_empty() { b'[' } else { b',' });
        current.extend_from_slice(item.as_bytes());
    }
    if !current.is_empty() {
        current.push(b']');
        bodies.push(current);
    }
    Ok(bodies)
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    let mut end = body.len().min(BODY_EXCERPT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let mut s: String = body[..end]
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if end < body.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let t = |s: u16| {
            matches!(
                classify_status(StatusCode::from_u16(s).unwrap(), None, "https://h", ""),
                SinkError::Transient { .. }
            )
        };
        assert!(t(408) && t(429) && t(500) && t(503));
        assert!(!t(400) && !t(401) && !t(404) && !t(413));
    }

    #[test]
    fn packing_respects_the_limit() {
        let items: Vec<String> = (0..10).map(|i| format!("{{\"i\":{i}}}")).collect();
        let bodies = pack_json_arrays(&items, 20).unwrap();
        let mut back = Vec::new();
        for b in &bodies {
            assert!(b.len() <= 20);
            let v: Vec<serde_json::Value> = serde_json::from_slice(b).unwrap();
            back.extend(v);
        }
        assert_eq!(back.len(), 10);
        assert_eq!(back[9]["i"], 9);
        assert_eq!(pack_json_arrays(&items, 8), Err(0));
        assert!(pack_json_arrays(&[], 8).unwrap().is_empty());
    }

    #[test]
    fn origin_hides_path_and_query() {
        let u = Url::parse("https://hooks.slack.com/services/T0/B0/SECRET?x=1").unwrap();
        assert_eq!(origin(&u), "https://hooks.slack.com");
        let u = Url::parse("http://127.0.0.1:8080/a?sig=s").unwrap();
        assert_eq!(origin(&u), "http://127.0.0.1:8080");
    }
}
