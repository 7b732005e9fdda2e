//! Oversized and hostile bodies through a `hubwatch replay` child, with its peak resident memory
//! (VmHWM from /proc) measured: a 48 MiB body (over the 1 MiB limit), 10,000-deep nesting in
//! a record and as a whole body, invalid UTF-8 in the middle of a string, and one body of one
//! million records (with a raised `--max-body-bytes`). Each gets a clear dead-letter reason and
//! memory stays bounded. (Decoding the same shapes in-process is tested in
//! `decode_properties.rs`; the dead-letter format of each kind in `replay.rs`.)

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn matching(id: &str) -> String {
    json!({"time": "2025-12-23T10:30:00Z", "operationName": "Microsoft.KeyVault/vaults/keys/read/action",
           "resultType": "Success", "callerIpAddress": "10.0.0.1", "correlationId": id,
           "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/keys/k"})
    .to_string()
}

fn proc_field(pid: u32, file: &str, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_string())
}

fn kib(pid: u32, field: &str) -> u64 {
    proc_field(pid, "status", field)
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU ticks the process has used so far (utime + stime).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

struct Replayed {
    alerts: Vec<Value>,
    dead: Vec<Value>,
    stderr: String,
    hwm_kib: u64,
}

/// Feeds `input` to `hubwatch replay -` on stdin; once it is all written and the child sits idle
/// waiting for more (no CPU used for 300 ms), reads its VmHWM, then closes stdin.
fn replay(input: Vec<u8>, extra: &[&str]) -> Replayed {
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dl.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubwatch"))
        .arg("replay")
        .arg("--no-dedup")
        .arg("--dead-letter")
        .arg(&dl)
        .args(extra)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
        stdin
    });
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).unwrap();
        s
    });
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    while !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdin = writer.join().unwrap();
    let end = Instant::now() + Duration::from_secs(120);
    let mut last = cpu_ticks(pid);
    let mut idle_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = cpu_ticks(pid);
        if now != last {
            last = now;
            idle_since = Instant::now();
        } else if idle_since.elapsed() > Duration::from_millis(300) {
            break;
        }
        assert!(Instant::now() < end, "replay never went idle");
    }
    let hwm_kib = kib(pid, "VmHWM:");
    drop(stdin);
    let status = child.wait().unwrap();
    let stdout = reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    assert!(status.success(), "{stderr}");
    let dead = std::fs::read_to_string(&dl)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Replayed {
        alerts: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        dead,
        stderr,
        hwm_kib,
    }
}

fn reasons(dead: &[Value]) -> Vec<(String, String)> {
    dead.iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                d["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn hostile_bodies_get_clear_reasons_in_bounded_memory() {
    let mut input = Vec::new();
    // 1. A 48 MiB body: over the limit, never held whole.
    input.extend_from_slice(b"{\"records\":[{\"pad\":\"");
    input.resize(input.len() + 48 * 1024 * 1024, b'x');
    input.extend_from_slice(b"\"}]}\n");
    // 2. A record nesting 10,000 levels deep (one that the prefilter lets through to the rules)
    //    next to a matching one.
    let deep = format!(
        "{{\"operationName\":\"Microsoft.KeyVault/vaults/keys/read/action\",\"x\":{}1{}}}",
        "{\"a\":".repeat(10_000),
        "}".repeat(10_000)
    );
    input.extend_from_slice(
        format!("{{\"records\":[{deep},{}]}}\n", matching("after-deep")).as_bytes(),
    );
    // 3. A whole body nesting 10,000 arrays deep.
    input.extend_from_slice(format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000)).as_bytes());
    // 4. Invalid UTF-8 in the middle of a string value, between two matching records.
    let mut bad = format!(
        "{{\"records\":[{},{{\"operationName\":\"Microsoft.KeyVault/vau",
        matching("before-utf8")
    )
    .into_bytes();
    bad.extend_from_slice(b"lts/keys/\xff\xferead/action\",\"resultType\":\"Success\"}");
    bad.extend_from_slice(format!(",{}]}}\n", matching("after-utf8")).as_bytes());
    input.extend_from_slice(&bad);
    // 5. A plain matching body at the end: the stream goes on after all of the above.
    input.extend_from_slice(format!("{}\n", matching("last")).as_bytes());

    let run = replay(input, &[]);
    let ids: Vec<&str> = run
        .alerts
        .iter()
        .filter_map(|a| a["correlationId"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["after-deep", "before-utf8", "after-utf8", "last"],
        "{}",
        run.stderr
    );
    let r = reasons(&run.dead);
    assert_eq!(r.len(), 4, "{r:?}");
    assert_eq!(r[0].0, "body");
    assert!(
        r[0].1.contains("exceeds the limit of 1048576 bytes"),
        "{r:?}"
    );
    assert_eq!(r[1].0, "record");
    assert!(
        r[1].1.contains("record 0") && r[1].1.contains("recursion limit"),
        "{r:?}"
    );
    assert_eq!(r[2].0, "record");
    assert!(
        r[2].1.contains("record 0 is a JSON array, not an object"),
        "{r:?}"
    );
    assert_eq!(r[3].0, "record");
    assert!(r[3].1.contains("record 1 is not valid UTF-8"), "{r:?}");
    // The oversized entry keeps only its first 4 KiB.
    let kept = run.dead[0]["body"]
        .as_str()
        .map(str::len)
        .unwrap_or(usize::MAX);
    assert!(kept <= 4096, "{kept}");
    eprintln!("VmHWM {} KiB", run.hwm_kib);
    assert!(run.hwm_kib > 0);
    assert!(
        run.hwm_kib < 32 * 1024,
        "peak resident memory {} KiB for a 48 MiB body",
        run.hwm_kib
    );
}

#[test]
fn one_million_records_in_one_body_with_a_raised_limit() {
    const N: usize = 1_000_000;
    let mut body = String::with_capacity(N * 16);
    body.push_str("{\"records\":[");
    for i in 0..N {
        if i == N / 2 {
            body.push_str(&matching("middle"));
        } else {
            body.push_str(&format!("{{\"i\":{i}}}"));
        }
        body.push(',');
    }
    body.push_str("7]}\n");
    let size = body.len();
    let run = replay(body.into_bytes(), &["--max-body-bytes", "67108864"]);
    let ids: Vec<&str> = run
        .alerts
        .iter()
        .filter_map(|a| a["correlationId"].as_str())
        .collect();
    assert_eq!(ids, ["middle"], "{}", run.stderr);
    let r = reasons(&run.dead);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].1.contains(&format!("record {N}")) && r[0].1.contains("not an object"),
        "{r:?}"
    );
    eprintln!("body {size} bytes, VmHWM {} KiB", run.hwm_kib);
    assert!(run.hwm_kib > 0);
    // The body (about 13 MB), its copy in the line reader and the prefilter's scratch buffer,
    // plus one small index entry per record.
    assert!(
        run.hwm_kib < 128 * 1024,
        "peak resident memory {} KiB for {N} records",
        run.hwm_kib
    );
}
