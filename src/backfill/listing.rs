//! Finding the archive blobs of a time range: the hourly partitions diagnostic settings write
//! (`.../y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json`), the walk that lists only the partitions in
//! range, and the deterministic `--shard i/n` split.
//!
//! The walk lists with delimiter `/`: a segment that is not a time partition (the resource id
//! path above it) is descended; `y=`, `m=` and `d=` segments are descended only when that
//! year, month or day overlaps the range; a day in range is listed flat (one request for its 24
//! hours) and its blobs are kept when their hour overlaps the range.

use crate::azure::blob::BlobContainer;
use sha2::{Digest, Sha256};
use std::fmt;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// A half-open range `[from, to)` of whole hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HourRange {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl HourRange {
    /// `from` rounded down and `to` rounded up to the hour.
    pub(crate) fn new(from: OffsetDateTime, to: OffsetDateTime) -> HourRange {
        let floor = |t: OffsetDateTime| {
            let t = t.to_offset(time::UtcOffset::UTC);
            t.replace_time(Time::MIDNIGHT) + time::Duration::hours(t.hour() as i64)
        };
        let up = floor(to);
        let to = if up == to.to_offset(time::UtcOffset::UTC) {
            up
        } else {
            up + time::Duration::HOUR
        };
        HourRange {
            from: floor(from),
            to,
        }
    }

    /// Whether `[start, end)` overlaps the range.
    fn overlaps(&self, start: OffsetDateTime, end: OffsetDateTime) -> bool {
        start < self.to && end > self.from
    }
}

/// Where a blob sits in time: the start of its hour.
pub(crate) fn blob_hour(name: &str) -> Option<OffsetDateTime> {
    let segs: Vec<&str> = name.split('/').collect();
    let i = segs.iter().position(|s| s.starts_with("y="))?;
    let num = |s: &str, key: &str| s.strip_prefix(key).and_then(|v| v.parse::<u32>().ok());
    let y = num(segs.get(i)?, "y=")?;
    let m = num(segs.get(i + 1)?, "m=")?;
    let d = num(segs.get(i + 2)?, "d=")?;
    let h = num(segs.get(i + 3)?, "h=")?;
    let date = Date::from_calendar_date(y as i32, Month::try_from(m as u8).ok()?, d as u8).ok()?;
    let t = Time::from_hms(h as u8, 0, 0).ok()?;
    Some(PrimitiveDateTime::new(date, t).assume_utc())
}

/// One blob to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArchiveBlob {
    pub container: String,
    pub name: String,
    pub hour: OffsetDateTime,
    /// Length at listing time (the blob may grow).
    pub length: u64,
}

impl ArchiveBlob {
    /// The blob's key in the cursor and for sharding: `container/name`.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.container, self.name)
    }
}

/// `--shard i/n`: this process reads the blobs whose key hashes to `i` modulo `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not i/n (e.g. 0/4)"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("{i:?} is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("shard {s}: need 0 <= i < n"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether this shard owns `key`: the first 8 bytes of its SHA-256, modulo `count`. The
    /// same on every machine and every run, so shards are disjoint and together cover all.
    pub fn owns(&self, key: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let h = Sha256::digest(key.as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[..8]);
        (u64::from_be_bytes(b) % self.count as u64) as u32 == self.index
    }
}

/// Lists the blobs of `container` under `prefix` whose hour overlaps `range`.
pub(crate) async fn list(
    client: &BlobContainer,
    container: &str,
    prefix: &str,
    range: &HourRange,
) -> azure_core::Result<Vec<ArchiveBlob>> {
    let mut found = Vec::new();
    let mut stack = vec![prefix.to_string()];
    while let Some(p) = stack.pop() {
        if is_day(&p) {
            for b in client.list_all(&p, None, false).await?.blobs {
                keep(&mut found, container, b.name, b.content_length, range);
            }
            continue;
        }
        let page = client.list_all(&p, Some("/"), false).await?;
        for b in page.blobs {
            keep(&mut found, container, b.name, b.content_length, range);
        }
        for child in page.prefixes {
            if descend(&child, range) {
                stack.push(child);
            }
        }
    }
    Ok(found)
}

fn keep(
    found: &mut Vec<ArchiveBlob>,
    container: &str,
    name: String,
    length: Option<u64>,
    range: &HourRange,
) {
    if let Some(hour) = blob_hour(&name) {
        if range.overlaps(hour, hour + time::Duration::HOUR) {
            found.push(ArchiveBlob {
                container: container.to_string(),
                name,
                hour,
                length: length.unwrap_or(0),
            });
        }
    }
}

/// The time partition segments (`y=`, `m=`, `d=`) at the end of a prefix, as numbers.
fn partition(prefix: &str) -> (Option<i32>, Option<u8>, Option<u8>) {
    let segs: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    let Some(i) = segs.iter().position(|s| s.starts_with("y=")) else {
        return (None, None, None);
    };
    let get = |j: usize, key: &str| {
        segs.get(j)
            .and_then(|s| s.strip_prefix(key))
            .and_then(|v| v.parse::<u32>().ok())
    };
    (
        get(i, "y=").map(|y| y as i32),
        get(i + 1, "m=").map(|m| m as u8),
        get(i + 2, "d=").map(|d| d as u8),
    )
}

fn is_day(prefix: &str) -> bool {
    matches!(partition(prefix), (Some(_), Some(_), Some(_)))
}

/// Whether a child prefix may hold blobs in range.
fn descend(child: &str, range: &HourRange) -> bool {
    let midnight = |d: Date| PrimitiveDateTime::new(d, Time::MIDNIGHT).assume_utc();
    let (start, end) = match partition(child) {
        (None, _, _) => return true,
        (Some(y), None, _) => {
            let (Ok(a), Ok(b)) = (
                Date::from_calendar_date(y, Month::January, 1),
                Date::from_calendar_date(y + 1, Month::January, 1),
            ) else {
                return false;
            };
            (midnight(a), midnight(b))
        }
        (Some(y), Some(m), None) => {
            let Ok(month) = Month::try_from(m) else {
                return false;
            };
            let Ok(a) = Date::from_calendar_date(y, month, 1) else {
                return false;
            };
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let Some(b) = Month::try_from(nm)
                .ok()
                .and_then(|nm| Date::from_calendar_date(ny, nm, 1).ok())
            else {
                return false;
            };
            (midnight(a), midnight(b))
        }
        (Some(y), Some(m), Some(d)) => {
            let Some(a) = Month::try_from(m)
                .ok()
                .and_then(|mm| Date::from_calendar_date(y, mm, d).ok())
            else {
                return false;
            };
            (midnight(a), midnight(a) + time::Duration::DAY)
        }
    };
    range.overlaps(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn hours_and_partitions() {
        let name = "resourceId=/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV/y=2026/m=11/d=30/h=23/m=00/PT1H.json";
        assert_eq!(blob_hour(name), Some(datetime!(2026-11-30 23:00 UTC)));
        assert_eq!(blob_hour("resourceId=/SUBSCRIPTIONS/S1/PT1H.json"), None);
        let r = HourRange::new(
            datetime!(2026-11-30 22:30 UTC),
            datetime!(2026-12-01 00:10 UTC),
        );
        assert_eq!(r.from, datetime!(2026-11-30 22:00 UTC));
        assert_eq!(r.to, datetime!(2026-12-01 01:00 UTC));
        assert!(descend("resourceId=/SUBSCRIPTIONS/", &r));
        assert!(descend("a/y=2026/", &r));
        assert!(!descend("a/y=2025/", &r));
        assert!(descend("a/y=2026/m=12/", &r));
        assert!(!descend("a/y=2026/m=10/", &r));
        assert!(descend("a/y=2026/m=11/d=30/", &r));
        assert!(!descend("a/y=2026/m=11/d=29/", &r));
        assert!(is_day("a/y=2026/m=11/d=29/"));
    }

    #[test]
    fn shards_are_disjoint_and_cover() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard { index: i, count: 3 }).collect();
        for k in 0..300 {
            let key = format!("c/blob{k}");
            assert_eq!(shards.iter().filter(|s| s.owns(&key)).count(), 1);
        }
        assert!("3/3".parse::<Shard>().is_err());
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
    }
}
