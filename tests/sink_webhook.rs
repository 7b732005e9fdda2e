//! The webhook sink against an in-test HTTP server, driven through the real sink worker.

#[path = "support/credential.rs"]
mod credential;
#[path = "support/fixtures.rs"]
mod fixtures;

use credential::FakeCredential;
use fixtures::{alert, serve, serve_ok, sink_config, wait_for, Recorded};
use hmac::{Hmac, Mac};
use hubwatch::ack::Pending;
use hubwatch::dead_letter::{self, DeadLetter, DeadLetterFile, EntryKind};
use hubwatch::sink::webhook::WebhookSink;
use hubwatch::sink::worker::{self, Delivery};
use hubwatch::sink::{Sink, SinkError};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn verify_hmac(secret: &str, r: &Recorded) -> bool {
    let (Some(ts), Some(sig)) = (
        r.header("x-hubwatch-timestamp"),
        r.header("x-hubwatch-signature"),
    ) else {
        return false;
    };
    let Some(hex_sig) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(ts_num) = ts.parse::<i64>() else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - ts_num).abs() > 300 {
        return false;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    mac.verify_slice(&hex::decode(hex_sig).unwrap_or_default())
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_until_every_alert_arrives() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "s3cret-value\n").unwrap();
        let pendings: Arc<Mutex<Vec<Arc<Pending>>>> = Arc::default();
        let early_done = Arc::new(AtomicBool::new(false));
        // 503 with Retry-After: 1, then 503 without, then 503 with an HTTP date, then 200.
        let server = serve({
            let pendings = pendings.clone();
            let early_done = early_done.clone();
            Arc::new(move |n, _r| {
                if n < 3 {
                    if pendings.lock().unwrap().iter().any(|p| p.is_done()) {
                        early_done.store(true, Ordering::SeqCst);
                    }
                    let headers = match n {
                        0 => vec![("Retry-After".into(), "1".into())],
                        2 => vec![(
                            "Retry-After".into(),
                            httpdate::fmt_http_date(std::time::SystemTime::now()),
                        )],
                        _ => vec![],
                    };
                    (503, headers)
                } else {
                    (200, vec![])
                }
            })
        })
        .await;
        let cfg = sink_config(&format!(
            r#"
            kind = "webhook"
            name = "hook"
            url = "{}"
            batch = true
            batch_size = 10
            linger_ms = 100
            auth = "hmac"
            secret_file = "{}"
            headers = {{ "X-Team" = "soc" }}
            "#,
            server.url("/alerts?key=abc"),
            secret_file.display()
        ));
        let sink: Arc<dyn Sink> = Arc::new(WebhookSink::from_config("hook", &cfg).unwrap());
        let dl = Arc::new(DeadLetterFile::new(dir.path().join("dl.jsonl")));
        let handle = worker::spawn(sink, cfg, dl.clone());
        let n = 5;
        for i in 0..n {
            let p = Pending::new(1);
            pendings.lock().unwrap().push(p.clone());
            handle
                .deliver(Delivery {
                    alert: Arc::new(alert(i)),
                    ack: p.ack(),
                })
                .await
                .unwrap();
        }
        let all = pendings.lock().unwrap().clone();
        for p in all {
            p.wait().await;
        }
        handle.close().await;

        let reqs = server.requests();
        assert!(
            reqs.len() >= 4,
            "three refusals then success: {}",
            reqs.len()
        );
        assert!(!early_done.load(Ordering::SeqCst), "acked before the 200");
        // Retry-After: 1 was honoured.
        assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(950));
        let mut delivered = BTreeSet::new();
        for (i, r) in reqs.iter().enumerate() {
            assert_eq!(r.method, "POST");
            assert_eq!(r.path, "/alerts");
            assert_eq!(r.query.as_deref(), Some("key=abc"));
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/json")
            );
            assert_eq!(r.header("x-team").as_deref(), Some("soc"));
            assert!(verify_hmac("s3cret-value", r), "signature of request {i}");
            assert!(!verify_hmac("other", r));
            let arr = r.json();
            let arr = arr.as_array().expect("batch = true posts an array");
            if i >= 3 {
                for a in arr {
                    delivered.insert(a["alert_id"].as_str().unwrap().to_string());
                }
            }
        }
        let want: BTreeSet<String> = (0..n).map(|i| alert(i).alert_id).collect();
        assert_eq!(delivered, want, "every alert arrives");
        assert!(!dl.path().exists(), "nothing dead-lettered");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_alert_is_dead_lettered_then_redriven() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let accept = Arc::new(AtomicBool::new(false));
        let server = serve({
            let accept = accept.clone();
            Arc::new(move |_, _| {
                if accept.load(Ordering::SeqCst) {
                    (200, vec![])
                } else {
                    (400, vec![])
                }
            })
        })
        .await;
        let cfg = sink_config(&format!(
            r#"
            kind = "webhook"
            name = "hook"
            url = "{}"
            batch_size = 1
            linger_ms = 0
            "#,
            server.url("/in")
        ));
        let sink: Arc<dyn Sink> = Arc::new(WebhookSink::from_config("hook", &cfg).unwrap());
        let dl_path = dir.path().join("dead-letter-hook.jsonl");
        let dl = Arc::new(DeadLetterFile::new(&dl_path));
        let handle = worker::spawn(sink.clone(), cfg, dl.clone());
        let p = Pending::new(1);
        handle
            .deliver(Delivery {
                alert: Arc::new(alert(7)),
                ack: p.ack(),
            })
            .await
            .unwrap();
        p.wait().await;
        handle.close().await;

        let entries = dead_letter::read_file(&dl_path).unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.kind, EntryKind::Alert);
        assert_eq!(e.sink.as_deref(), Some("hook"));
        assert_eq!(e.rule_id.as_deref(), Some("Test.KeyVault.Access"));
        assert!(e.reason.contains("400"), "{}", e.reason);
        assert!(
            !e.reason.contains("/in"),
            "no URL path in reasons: {}",
            e.reason
        );
        assert_eq!(e.alert.as_ref().unwrap().alert_id, "alert-0007");

        // Entries redrive must keep: another kind, and an alert for a sink it was not given.
        dl.write(&[
            DeadLetter::raw(EntryKind::Body, "undecodable".into(), None, b"{oops"),
            DeadLetter::alert(alert(8), "gone-sink", "refused".into()),
        ])
        .unwrap();

        accept.store(true, Ordering::SeqCst);
        let before = server.requests().len();
        let report = hubwatch::redrive::redrive(&dl_path, &[("hook".to_string(), sink)])
            .await
            .unwrap();
        assert_eq!(report.entries, 3);
        assert_eq!(report.delivered, 1);
        assert_eq!(report.failed, 0);
        assert_eq!(report.unknown_sink, 1);
        assert_eq!(report.skipped, 1);
        assert_eq!(report.remaining, 2);
        let reqs = server.requests();
        assert_eq!(reqs.len(), before + 1);
        assert_eq!(reqs[before].json()["alert_id"], "alert-0007");
        let left = dead_letter::read_file(&dl_path).unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].kind, EntryKind::Body);
        assert_eq!(left[1].sink.as_deref(), Some("gone-sink"));
        assert!(left
            .iter()
            .all(|e| e.alert.as_ref().is_none_or(|a| a.alert_id != "alert-0007")));
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_keeps_what_still_fails() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let server = serve(Arc::new(|_, _| (422, vec![]))).await;
        let cfg = sink_config(&format!(
            "kind = \"webhook\"\nurl = \"{}\"",
            server.url("/x")
        ));
        let sink: Arc<dyn Sink> = Arc::new(WebhookSink::from_config("webhook", &cfg).unwrap());
        let path = dir.path().join("dl.jsonl");
        DeadLetterFile::new(&path)
            .write(&[DeadLetter::alert(alert(1), "webhook", "x".into())])
            .unwrap();
        let report = hubwatch::redrive::redrive(&path, &[("webhook".into(), sink)])
            .await
            .unwrap();
        assert_eq!(
            (report.delivered, report.failed, report.remaining),
            (0, 1, 1)
        );
        assert_eq!(dead_letter::read_file(&path).unwrap().len(), 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_and_one_object_per_request() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "tok-123\n").unwrap();
        let server = serve_ok().await;
        let cfg = sink_config(&format!(
            "kind = \"webhook\"\nurl = \"{}\"\nauth = \"bearer\"\ntoken_file = \"{}\"",
            server.url("/b"),
            token_file.display()
        ));
        let sink = WebhookSink::from_config("webhook", &cfg).unwrap();
        sink.send(&[Arc::new(alert(1)), Arc::new(alert(2))])
            .await
            .unwrap();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        for (r, i) in reqs.iter().zip([1, 2]) {
            assert_eq!(r.header("authorization").as_deref(), Some("Bearer tok-123"));
            let v = r.json();
            assert!(v.is_object());
            assert_eq!(v["alert_id"], alert(i).alert_id);
            assert_eq!(v["event"]["i"], i);
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_teams_presets() {
    tokio::time::timeout(T, async {
        let server = serve_ok().await;
        let slack = WebhookSink::from_config(
            "slack",
            &sink_config(&format!(
                "kind = \"webhook\"\nurl = \"{}\"\npreset = \"slack\"\nbatch = true",
                server.url("/services/T000/B000/XXXX")
            )),
        )
        .unwrap();
        let teams = WebhookSink::from_config(
            "teams",
            &sink_config(&format!(
                "kind = \"webhook\"\nurl = \"{}\"\npreset = \"teams\"",
                server.url("/workflows/abc")
            )),
        )
        .unwrap();
        // Presets send one alert per request, even with batch = true.
        slack
            .send(&[Arc::new(alert(1)), Arc::new(alert(2))])
            .await
            .unwrap();
        teams.send(&[Arc::new(alert(3))]).await.unwrap();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 3);

        let s = reqs[0].json();
        assert_eq!(
            s["text"],
            "[HIGH] Key &lt;accessed&gt; &amp; read #1 (Test.KeyVault.Access)"
        );
        let blocks = s["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(blocks[0]["text"]["text"], "Key <accessed> & read #1");
        assert_eq!(blocks[1]["type"], "section");
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"*Severity*\nHIGH"));
        assert!(fields.contains(&"*Caller*\nkv-reader@contoso.com"));
        assert!(fields.contains(&"*Caller IP*\n203.0.113.7"));
        assert!(fields.contains(&"*Correlation id*\n-"));
        assert_eq!(blocks.last().unwrap()["type"], "context");
        assert!(blocks.last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap()
            .contains("alert-0001"));
        assert_eq!(
            reqs[1].json()["blocks"][0]["text"]["text"],
            "Key <accessed> & read #2"
        );

        let t = reqs[2].json();
        assert_eq!(t["type"], "message");
        let att = &t["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &att["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(card["body"][0]["type"], "TextBlock");
        assert_eq!(card["body"][0]["text"], "Key <accessed> & read #3");
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(card["body"][1]["type"], "FactSet");
        let facts = card["body"][1]["facts"].as_array().unwrap();
        let fact = |t: &str| {
            facts
                .iter()
                .find(|f| f["title"] == t)
                .map(|f| f["value"].clone())
                .unwrap_or(Value::Null)
        };
        assert_eq!(fact("Severity"), "HIGH");
        assert_eq!(fact("Rule"), "Test.KeyVault.Access");
        assert_eq!(fact("Caller"), "kv-reader@contoso.com");
        assert_eq!(fact("Alert id"), "alert-0003");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classification_and_no_secrets_in_errors() {
    tokio::time::timeout(T, async {
        let status = Arc::new(AtomicUsize::new(500));
        let server = serve({
            let status = status.clone();
            Arc::new(move |_, _| (status.load(Ordering::SeqCst) as u16, vec![]))
        })
        .await;
        let url = server.url("/services/T0/B0/SECRETPATH?sig=SECRETQUERY");
        let sink = WebhookSink::from_config(
            "w",
            &sink_config(&format!("kind = \"webhook\"\nurl = \"{url}\"")),
        )
        .unwrap();
        let one = [Arc::new(alert(1))];
        for (code, transient) in [(500, true), (503, true), (408, true), (429, true), (400, false), (401, false), (404, false)] {
            status.store(code, Ordering::SeqCst);
            let e = sink.send(&one).await.unwrap_err();
            assert_eq!(matches!(e, SinkError::Transient { .. }), transient, "{code}: {e}");
            let text = e.to_string();
            assert!(text.contains(&server.addr.to_string()), "{text}");
            assert!(!text.contains("SECRET"), "{text}");
        }

        // Nothing listens here: a connect error, transient, without the path.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let down = WebhookSink::from_config(
            "w",
            &sink_config(&format!(
                "kind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/hook/SECRETPATH?k=SECRETQUERY\"\ntimeout_secs = 2"
            )),
        )
        .unwrap();
        let e = down.send(&one).await.unwrap_err();
        assert!(matches!(e, SinkError::Transient { .. }), "{e}");
        assert!(!e.to_string().contains("SECRET"), "{e}");

        // Over max_body_bytes: permanent, and nothing is sent.
        let before = server.requests().len();
        let small = WebhookSink::from_config(
            "w",
            &sink_config(&format!("kind = \"webhook\"\nurl = \"{url}\"\nmax_body_bytes = 100")),
        )
        .unwrap();
        let e = small.send(&one).await.unwrap_err();
        assert!(matches!(e, SinkError::Permanent { .. }), "{e}");
        assert!(e.to_string().contains("max_body_bytes"));
        assert_eq!(server.requests().len(), before);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_down_longer_than_its_queue_makes_deliver_wait() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let up = Arc::new(AtomicBool::new(false));
        let server = serve({
            let up = up.clone();
            Arc::new(move |_, _| {
                if up.load(Ordering::SeqCst) {
                    (200, vec![])
                } else {
                    (503, vec![])
                }
            })
        })
        .await;
        let cfg = sink_config(&format!(
            r#"
            kind = "webhook"
            url = "{}"
            queue_size = 2
            batch_size = 1
            linger_ms = 0
            "#,
            server.url("/q")
        ));
        let sink: Arc<dyn Sink> = Arc::new(WebhookSink::from_config("webhook", &cfg).unwrap());
        let handle = Arc::new(worker::spawn(
            sink,
            cfg,
            Arc::new(DeadLetterFile::new(dir.path().join("dl.jsonl"))),
        ));
        let n = 10;
        let queued = Arc::new(AtomicUsize::new(0));
        let pendings: Vec<Arc<Pending>> = (0..n).map(|_| Pending::new(1)).collect();
        let producer = tokio::spawn({
            let handle = handle.clone();
            let queued = queued.clone();
            let pendings = pendings.clone();
            async move {
                for (i, p) in pendings.iter().enumerate() {
                    handle
                        .deliver(Delivery {
                            alert: Arc::new(alert(i)),
                            ack: p.ack(),
                        })
                        .await
                        .unwrap();
                    queued.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        // The worker holds one alert (retrying it), the queue two more: the fourth waits.
        wait_for("the queue to fill", T, || {
            queued.load(Ordering::SeqCst) >= 3
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            queued.load(Ordering::SeqCst),
            3,
            "deliver must wait on a full queue"
        );
        assert!(!producer.is_finished());
        assert!(server.requests().len() > 1, "the worker keeps retrying");
        assert!(pendings.iter().all(|p| !p.is_done()));

        up.store(true, Ordering::SeqCst);
        producer.await.unwrap();
        for p in &pendings {
            p.wait().await;
        }
        let delivered: BTreeSet<String> = server
            .requests()
            .iter()
            .map(|r| r.json()["alert_id"].as_str().unwrap().to_string())
            .collect();
        let want: BTreeSet<String> = (0..n).map(|i| alert(i).alert_id).collect();
        assert_eq!(delivered, want);
        match Arc::try_unwrap(handle) {
            Ok(h) => h.close().await,
            Err(_) => panic!("handle still shared"),
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_auth_sends_a_token_for_the_scope() {
    tokio::time::timeout(T, async {
        let server = serve_ok().await;
        let cfg = sink_config(&format!(
            "kind = \"webhook\"\nurl = \"{}\"\nauth = \"entra\"\nscope = \"api://receiver/.default\"\ncredential = \"managed-identity\"",
            server.url("/e")
        ));
        let sink = WebhookSink::new("webhook", &cfg, Some(Arc::new(FakeCredential::default()))).unwrap();
        sink.send(&[Arc::new(alert(1))]).await.unwrap();
        let reqs = server.requests();
        assert_eq!(
            reqs[0].header("authorization").as_deref(),
            Some("Bearer fake-token-for-api://receiver/.default")
        );
    })
    .await
    .expect("test timed out");
}

/// A flaky endpoint (every other request answered 503) does not make the sink "failing": each
/// alert arrives on its first retry and readiness stays up. An endpoint that keeps failing
/// does, after three attempts at one batch, and recovers with the first accepted send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_repeated_failures_mark_the_sink_failing() {
    tokio::time::timeout(T, async {
        let dir = tempfile::tempdir().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let server = serve({
            let down = down.clone();
            Arc::new(move |n, _r| {
                if down.load(Ordering::SeqCst) || n % 2 == 0 {
                    (503, vec![])
                } else {
                    (200, vec![])
                }
            })
        })
        .await;
        let cfg = sink_config(&format!(
            r#"
            kind = "webhook"
            url = "{}"
            batch_size = 1
            linger_ms = 0
            "#,
            server.url("/alerts"),
        ));
        let sink: Arc<dyn Sink> = Arc::new(WebhookSink::from_config("hook", &cfg).unwrap());
        let dl = Arc::new(DeadLetterFile::new(dir.path().join("dl.jsonl")));
        let handle = worker::spawn(sink, cfg, dl);
        let send = |i: usize| {
            let p = Pending::new(1);
            let d = Delivery {
                alert: Arc::new(alert(i)),
                ack: p.ack(),
            };
            (p, d)
        };
        // Samples readiness while the flaky phase runs (between a 503 and its retry, too).
        let flaky_done = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn({
            let (health, flaky_done) = (handle.health.clone(), flaky_done.clone());
            async move {
                let mut ever_failing = false;
                while !flaky_done.load(Ordering::SeqCst) {
                    ever_failing |= !health.is_accepting();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                ever_failing
            }
        });
        for i in 0..4 {
            let (p, d) = send(i);
            handle.deliver(d).await.unwrap();
            p.wait().await;
        }
        flaky_done.store(true, Ordering::SeqCst);
        assert!(
            !watcher.await.unwrap(),
            "a 503 fixed by the next retry is not an outage"
        );
        assert_eq!(server.requests().len(), 8);

        down.store(true, Ordering::SeqCst);
        let (p, d) = send(4);
        handle.deliver(d).await.unwrap();
        wait_for("the sink to count as failing", T, || {
            !handle.health.is_accepting()
        })
        .await;
        assert!(server.requests().len() >= 8 + 3, "three attempts first");
        down.store(false, Ordering::SeqCst);
        p.wait().await;
        assert!(
            handle.health.is_accepting(),
            "recovered with the accepted send"
        );
        handle.close().await;
    })
    .await
    .expect("test timed out");
}
