//! The Event Hubs sink publishes alerts into the local Event Hubs-compatible server; the SDK's
//! consumer reads them back field by field, keyed by the alert's dedup string.

mod support;

use support::fixtures;

use azure_messaging_eventhubs::{
    ConsumerClient, OpenReceiverOptions, StartLocation, StartPosition,
};
use futures::StreamExt;
use hubwatch::alert::Alert;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use support::service::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_published_and_read_back() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let emu = start_emulator(4, None).await;
        // The sink reads its connection string from the environment, like the service does.
        std::env::set_var("HUBWATCH_TEST_SINK_CONNECTION_STRING", CONNECTION_STRING);
        let cfg = fixtures::sink_config(&format!(
            r#"
kind = "eventhubs"
eventhub = "{HUB}"
credential = "connection-string"
connection_string_env = "HUBWATCH_TEST_SINK_CONNECTION_STRING"
custom_endpoint = "amqp://{}"
"#,
            emu.local_addr()
        ));
        let sink = hubwatch::sink::build_named("soc-queue", &cfg)
            .await
            .unwrap();
        let alerts: Vec<Arc<Alert>> = (0..12).map(|i| Arc::new(fixtures::alert(i))).collect();
        sink.send(&alerts[..5]).await.unwrap();
        sink.send(&alerts[5..]).await.unwrap();

        let consumer = ConsumerClient::builder()
            .with_custom_endpoint(format!("amqp://{}", emu.local_addr()))
            .open(
                NAMESPACE,
                HUB.to_string(),
                Arc::new(FakeCredential::default()),
            )
            .await
            .unwrap();
        let mut got: HashMap<String, (String, Value, HashMap<String, String>)> = HashMap::new();
        for p in 0..4 {
            let n = emu.partition_len(&p.to_string()) as usize;
            if n == 0 {
                continue;
            }
            let receiver = consumer
                .open_receiver_on_partition(
                    p.to_string(),
                    Some(OpenReceiverOptions {
                        start_position: Some(StartPosition {
                            location: StartLocation::Earliest,
                            inclusive: false,
                        }),
                        ..Default::default()
                    }),
                )
                .await
                .unwrap();
            let events: Vec<_> = receiver.stream_events().take(n).collect().await;
            for ev in events {
                let ev = ev.unwrap();
                let data = ev.event_data();
                let body: Value = serde_json::from_slice(data.body().unwrap()).unwrap();
                assert_eq!(data.content_type(), Some("application/json"));
                let props: HashMap<String, String> = data
                    .properties()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), format!("{v:?}")))
                            .collect()
                    })
                    .unwrap_or_default();
                got.insert(
                    body["alert_id"].as_str().unwrap().to_string(),
                    (p.to_string(), body, props),
                );
            }
        }
        assert_eq!(got.len(), 12, "every alert is published once");
        let mut partition_of_key: HashMap<String, String> = HashMap::new();
        for a in &alerts {
            let (partition, body, props) = &got[&a.alert_id];
            // Field by field: the published body is the alert.
            let expected: Value = serde_json::from_str(&a.to_json()).unwrap();
            for (k, v) in expected.as_object().unwrap() {
                assert_eq!(&body[k], v, "field {k} of {}", a.alert_id);
            }
            assert!(
                props.get("rule_id").is_some_and(|v| v.contains(&a.rule_id)),
                "{props:?}"
            );
            assert!(
                props
                    .get("alert_id")
                    .is_some_and(|v| v.contains(&a.alert_id)),
                "{props:?}"
            );
            // One dedup key, one partition.
            let prev = partition_of_key.insert(a.dedup.clone(), partition.clone());
            assert!(
                prev.is_none_or(|p| &p == partition),
                "dedup key {} split across partitions",
                a.dedup
            );
        }
        assert_eq!(partition_of_key.len(), 3);
        sink.flush().await.unwrap();
        emu.shutdown().await;
    })
    .await
    .expect("test finished in time");
}

/// A send the server never settles (a lost disposition) times out as a transient failure, and
/// the next attempt opens a new connection instead of waiting on the stuck one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsettled_send_times_out_and_the_retry_reconnects() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let emu = start_emulator(2, None).await;
        std::env::set_var("HUBWATCH_TEST_STUCK_CONNECTION_STRING", CONNECTION_STRING);
        let cfg = fixtures::sink_config(&format!(
            r#"
kind = "eventhubs"
eventhub = "{HUB}"
credential = "connection-string"
connection_string_env = "HUBWATCH_TEST_STUCK_CONNECTION_STRING"
custom_endpoint = "amqp://{}"
timeout_secs = 2
"#,
            emu.local_addr()
        ));
        let sink = hubwatch::sink::build_named("soc-queue", &cfg)
            .await
            .unwrap();
        let alert = Arc::new(fixtures::alert(1));
        sink.send(std::slice::from_ref(&alert)).await.unwrap();
        let opened = emu.connections_opened();

        emu.set_hold_settlements(true);
        let r = sink.send(std::slice::from_ref(&alert)).await;
        assert!(
            matches!(r, Err(hubwatch::sink::SinkError::Transient { .. })),
            "{r:?}"
        );
        emu.set_hold_settlements(false);
        sink.send(std::slice::from_ref(&alert)).await.unwrap();
        assert_eq!(
            emu.connections_opened(),
            opened + 1,
            "the retry after a timeout opens a new connection"
        );
        sink.flush().await.unwrap();
        emu.shutdown().await;
    })
    .await
    .expect("test finished in time");
}
