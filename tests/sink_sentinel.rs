//! The Sentinel (Logs Ingestion API) sink against an in-test HTTP server and a fake credential.

#[path = "support/credential.rs"]
mod credential;
#[path = "support/fixtures.rs"]
mod fixtures;

use credential::FakeCredential;
use fixtures::{alert, serve, serve_ok, sink_config};
use hubwatch::sink::sentinel::SentinelSink;
use hubwatch::sink::{Sink, SinkError};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn config(endpoint: &str, extra: &str) -> hubwatch::sink::SinkConfig {
    sink_config(&format!(
        r#"
        kind = "sentinel"
        endpoint = "{endpoint}"
        dcr_immutable_id = "dcr-0123456789abcdef"
        stream_name = "Custom-HubwatchAlerts"
        credential = "managed-identity"
        {extra}
        "#
    ))
}

fn rows(body: &[u8], gzip: bool) -> Vec<Value> {
    let text = if gzip {
        let mut s = String::new();
        flate2::read::GzDecoder::new(body)
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    v.as_array().expect("a JSON array").clone()
}

#[tokio::test]
async fn posts_rows_to_the_stream_with_a_bearer_token() {
    tokio::time::timeout(T, async {
        let server = serve_ok().await;
        let cred = Arc::new(FakeCredential::default());
        let sink =
            SentinelSink::new("sentinel", &config(&server.url("/"), ""), cred.clone()).unwrap();
        let alerts: Vec<_> = (0..3).map(|i| Arc::new(alert(i))).collect();
        sink.send(&alerts).await.unwrap();

        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.path,
            "/dataCollectionRules/dcr-0123456789abcdef/streams/Custom-HubwatchAlerts"
        );
        assert_eq!(r.query.as_deref(), Some("api-version=2023-01-01"));
        assert_eq!(
            r.header("authorization").as_deref(),
            Some("Bearer fake-token-for-https://monitor.azure.com//.default")
        );
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(
            cred.scopes().as_slice(),
            ["https://monitor.azure.com//.default"]
        );
        let rows = rows(&r.body, false);
        assert_eq!(rows.len(), 3);
        let row = &rows[1];
        assert_eq!(row["TimeGenerated"], "2026-11-28T10:00:01Z");
        assert_eq!(row["AlertId"], "alert-0001");
        assert_eq!(row["RuleId"], "Test.KeyVault.Access");
        assert_eq!(row["AlertTitle"], "Key <accessed> & read #1");
        assert_eq!(row["Severity"], "HIGH");
        assert_eq!(row["Dedup"], "user1");
        assert_eq!(row["CallerIpAddress"], "203.0.113.7");
        assert_eq!(row["CorrelationId"], "");
        assert_eq!(row["Actor"]["upn"], "kv-reader@contoso.com");
        assert_eq!(
            row["Actor"].get("appid"),
            None,
            "unknown fields are left out"
        );
        assert_eq!(
            row["Entities"],
            json!([
                {"Type": "account", "Name": "kv-reader", "UPNSuffix": "contoso.com",
                 "AadUserId": "30a6c29d-de7c-4830-815f-9b3bb366e975"},
                {"Type": "ip", "Address": "203.0.113.7"}
            ])
        );
        assert_eq!(row["EventTime"], "2026-11-28T10:00:00Z");
        assert_eq!(row["WindowStart"], "2026-11-28T10:00:00Z");
        assert_eq!(row["Mitre"][0]["technique"], "T1555");
        assert_eq!(row["Tags"][0], "keyvault");
        assert_eq!(row["LogTypes"][0], "Azure.KeyVault");
        assert_eq!(row["Summary"]["callerIpAddress"], "203.0.113.7");
        assert_eq!(row["AlertContext"]["vault"], "kv-prod");
        assert_eq!(row["Event"]["operationName"], "KeyGet");
        assert_eq!(row["Event"]["i"], 1);
        assert_eq!(row["Source"]["kind"], "file");
        // An alert (not a follow-up) without context answers.
        assert_eq!(row["Kind"], "");
        assert_eq!(row["RunbookAnswers"], serde_json::json!({}));
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "TimeGenerated",
                "AlertId",
                "RuleId",
                "AlertTitle",
                "Severity",
                "Dedup",
                "AzureResourceId",
                "CallerIpAddress",
                "CorrelationId",
                "Actor",
                "Entities",
                "EventTime",
                "WindowStart",
                "DisplayName",
                "Description",
                "Runbook",
                "Reference",
                "Mitre",
                "Tags",
                "LogTypes",
                "Summary",
                "AlertContext",
                "Event",
                "Source",
                "Kind",
                "RunbookAnswers"
            ]
        );
    })
    .await
    .expect("test timed out");
}

#[test]
fn unknown_actor_is_an_empty_object_and_no_entities_an_empty_array() {
    let mut a = alert(0);
    a.actor = Default::default();
    a.entities.clear();
    let row = serde_json::to_value(hubwatch::sink::sentinel::AlertRow::new(&a)).unwrap();
    assert_eq!(row["Actor"], json!({}));
    assert_eq!(row["Entities"], json!([]));
}

#[tokio::test]
async fn batches_split_under_the_limit_and_gzip() {
    tokio::time::timeout(T, async {
        let server = serve_ok().await;
        let one_row = serde_json::to_string(&hubwatch::sink::sentinel::AlertRow::new(&alert(0)))
            .unwrap()
            .len();
        // Room for two rows per request, not three.
        let limit = one_row * 2 + 20;
        let sink = SentinelSink::new(
            "sentinel",
            &config(
                &server.url("/prefix/"),
                &format!("gzip = true\nmax_body_bytes = {limit}"),
            ),
            Arc::new(FakeCredential::default()),
        )
        .unwrap();
        let alerts: Vec<_> = (0..5).map(|i| Arc::new(alert(i))).collect();
        sink.send(&alerts).await.unwrap();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 3);
        let mut ids = Vec::new();
        for r in &reqs {
            assert_eq!(
                r.path,
                "/prefix/dataCollectionRules/dcr-0123456789abcdef/streams/Custom-HubwatchAlerts"
            );
            assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
            let rows = rows(&r.body, true);
            let uncompressed = serde_json::to_vec(&rows).unwrap().len();
            assert!(uncompressed <= limit, "{uncompressed} > {limit}");
            ids.extend(
                rows.iter()
                    .map(|row| row["AlertId"].as_str().unwrap().to_string()),
            );
        }
        let want: Vec<String> = (0..5).map(|i| alert(i).alert_id).collect();
        assert_eq!(ids, want, "every row, in order");

        // A row that cannot fit alone is refused permanently.
        let tiny = SentinelSink::new(
            "sentinel",
            &config(&server.url("/"), "max_body_bytes = 100"),
            Arc::new(FakeCredential::default()),
        )
        .unwrap();
        let e = tiny.send(&alerts[..1]).await.unwrap_err();
        assert!(matches!(e, SinkError::Permanent { .. }), "{e}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn throttling_is_transient_with_retry_after() {
    tokio::time::timeout(T, async {
        let server = serve(Arc::new(|n, _| {
            if n == 0 {
                (429, vec![("Retry-After".into(), "12".into())])
            } else {
                (403, vec![])
            }
        }))
        .await;
        let sink = SentinelSink::new(
            "sentinel",
            &config(&server.url(""), ""),
            Arc::new(FakeCredential::default()),
        )
        .unwrap();
        let a = [Arc::new(alert(1))];
        match sink.send(&a).await {
            Err(SinkError::Transient { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(12)))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sink.send(&a).await,
            Err(SinkError::Permanent { .. })
        ));
    })
    .await
    .expect("test timed out");
}

#[test]
fn the_token_scope_follows_the_endpoints_cloud() {
    use hubwatch::sink::sentinel::scope_for;
    let scope = |u: &str| scope_for(&reqwest::Url::parse(u).unwrap());
    assert_eq!(
        scope("https://hw-dce-x1.westeurope-1.ingest.monitor.azure.com"),
        "https://monitor.azure.com//.default"
    );
    assert_eq!(
        scope("https://hw-dce-x1.usgovvirginia-1.ingest.monitor.azure.us"),
        "https://monitor.azure.us//.default"
    );
    assert_eq!(
        scope("https://hw-dce-x1.chinanorth3-1.ingest.monitor.azure.cn"),
        "https://monitor.azure.cn//.default"
    );
    assert_eq!(
        scope("http://127.0.0.1:8080"),
        "https://monitor.azure.com//.default"
    );
}
