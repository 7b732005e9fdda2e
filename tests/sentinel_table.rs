//! The rows the `sentinel` sink sends have exactly the columns, with the types, of the table and
//! stream that `deploy/sentinel/main.bicep` creates from `deploy/sentinel/columns.json`; none of
//! them is a name the Logs Ingestion API reserves; and the stream is named alike in the Bicep,
//! docs/sinks.md and the example configuration.

#[path = "support/fixtures.rs"]
mod fixtures;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use fixtures::{alert, serve_ok, sink_config};
use hubwatch::sink::sentinel::SentinelSink;
use hubwatch::sink::Sink;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `columns.json`: name -> type, in file order.
fn columns() -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(&read("deploy/sentinel/columns.json")).unwrap();
    v.as_array()
        .expect("an array of columns")
        .iter()
        .map(|c| {
            let keys: Vec<&String> = c.as_object().expect("a column object").keys().collect();
            // A DCR stream column has a name and a type only; anything else is refused there.
            assert_eq!(keys, ["name", "type"], "column {c}");
            (
                c["name"].as_str().unwrap().to_string(),
                c["type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[derive(Debug)]
struct Token;

#[async_trait::async_trait]
impl TokenCredential for Token {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        Ok(AccessToken::new(
            "t",
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

/// The rows of one send of a full alert and of one with every optional field empty.
async fn sent_rows() -> Vec<serde_json::Map<String, Value>> {
    let server = serve_ok().await;
    let cfg = sink_config(&format!(
        "kind = \"sentinel\"\nendpoint = \"{}\"\ndcr_immutable_id = \"dcr-1\"\n\
         stream_name = \"Custom-HubwatchAlerts\"\ncredential = \"managed-identity\"\n",
        server.url("/")
    ));
    let sink = SentinelSink::new("sentinel", &cfg, Arc::new(Token)).unwrap();
    let mut sparse = alert(2);
    sparse.resource_id = Value::Null;
    sparse.caller_ip_address = Value::Null;
    sparse.event_time = Value::Null;
    sparse.actor = Default::default();
    sparse.entities.clear();
    sparse.mitre.clear();
    sparse.summary.clear();
    sparse.alert_context.clear();
    // The follow-up of a Key Vault alert, with context answers.
    let mut update = alert(3);
    update.kind = Some("alert_update".into());
    update.runbook_answers = Some(serde_json::json!({"status": "ok", "store": "sqlite"}));
    sink.send(&[Arc::new(alert(1)), Arc::new(sparse), Arc::new(update)])
        .await
        .unwrap();
    let bodies = server.requests();
    assert_eq!(bodies.len(), 1);
    bodies[0]
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_object().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn every_row_has_exactly_the_tables_columns_with_their_types() {
    let rows = tokio::time::timeout(Duration::from_secs(30), sent_rows())
        .await
        .expect("test timed out");
    let columns = columns();
    let declared: BTreeMap<&str, &str> = columns
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    assert_eq!(declared.len(), columns.len(), "duplicate column names");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["Kind"], "");
    assert_eq!(rows[2]["Kind"], "alert_update");
    assert_eq!(rows[2]["RunbookAnswers"]["store"], "sqlite");
    for row in &rows {
        let sent: Vec<&str> = row.keys().map(String::as_str).collect();
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            sent, names,
            "row keys vs columns.json (same order, for reading)"
        );
        for (name, value) in row {
            let ok = match declared[name.as_str()] {
                "string" => value.is_string(),
                "datetime" => value.as_str().is_some_and(|s| {
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .is_ok()
                }),
                "dynamic" => value.is_object() || value.is_array(),
                other => panic!("column {name}: type {other} is not one the sink sends"),
            };
            assert!(
                ok,
                "column {name} ({}) got {value}",
                declared[name.as_str()]
            );
        }
    }
}

#[test]
fn no_column_is_reserved_or_malformed() {
    // Reserved by the Logs Ingestion API (Microsoft's "Logs Ingestion API in Azure Monitor",
    // MicrosoftDocs/azure-monitor-docs articles/azure-monitor/logs/logs-ingestion-api-overview.md,
    // and the older list in the same article: resource, resourceid, ...), compared without case.
    const RESERVED: &[&str] = &[
        "_ResourceId",
        "id",
        "_SubscriptionId",
        "TenantId",
        "Type",
        "UniqueId",
        "Title",
        "Version",
        "resource",
        "resourceid",
        "resourcename",
        "resourcetype",
        "subscriptionid",
        "tenanted",
    ];
    let columns = columns();
    for (name, ty) in &columns {
        assert!(
            !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)),
            "{name} is a reserved column name"
        );
        // A letter first, then at most 44 letters, digits or underscores.
        assert!(
            name.len() <= 45
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "column name {name:?}"
        );
        assert!(
            ["string", "datetime", "dynamic", "int", "long", "real", "boolean"]
                .contains(&ty.as_str()),
            "{name}: {ty}"
        );
    }
    assert!(columns.contains(&("TimeGenerated".into(), "datetime".into())));
}

#[test]
fn the_bicep_declares_the_columns_for_table_and_stream_and_routes_the_stream() {
    let bicep = read("deploy/sentinel/main.bicep");
    let has = |needle: &str| assert!(bicep.contains(needle), "main.bicep lacks {needle:?}");
    has("var columns = loadJsonContent('columns.json')");
    has("var tableName = 'HubwatchAlerts_CL'");
    has("var streamName = 'Custom-HubwatchAlerts'");
    has("'Microsoft.OperationalInsights/workspaces/tables@");
    has("'Microsoft.Insights/dataCollectionEndpoints@");
    has("'Microsoft.Insights/dataCollectionRules@");
    has("dataCollectionEndpointId: dce.id");
    has("transformKql: 'source'");
    has("outputStream: 'Custom-${tableName}'");
    has("output endpoint string = dce.properties.logsIngestion.endpoint");
    has("output dcrImmutableId string = dcr.properties.immutableId");
    // The same column list for the table's schema and the stream declaration.
    assert_eq!(bicep.matches("columns: columns").count(), 2);
    // Monitoring Metrics Publisher on the DCR, for the given identity only.
    has("var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'");
    has("= if (!empty(principalId)) {");
    has("scope: dcr");
}

#[test]
fn the_stream_is_named_alike_everywhere() {
    let stream = "Custom-HubwatchAlerts";
    let example = read("config/example.toml");
    let named: Vec<&str> = example
        .lines()
        .filter_map(|l| {
            l.trim_start_matches(['#', ' '])
                .strip_prefix("stream_name = ")
        })
        .map(|v| v.split_whitespace().next().unwrap_or_default())
        .collect();
    assert_eq!(named, [format!("\"{stream}\"")]);
    let sinks_doc = read("docs/sinks.md");
    assert!(sinks_doc.contains(&format!("stream_name = \"{stream}\"")));
    assert!(read("src/sink/config.rs").contains(stream));
}
