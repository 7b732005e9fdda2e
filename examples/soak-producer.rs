//! Steady-load producer for `bench/soak.sh`: sends `RATE` bodies a second to the local Event
//! Hubs-compatible server, round robin over the partitions; one record in ten is a Key Vault key
//! read (an alert). Runs until killed; a failed send is logged and retried. With a fifth
//! argument it keeps the number of bodies the server accepted in that file, so the soak can check
//! afterwards that every alert they carry arrived.
//!
//! ```text
//! cargo run --example soak-producer -- 127.0.0.1:5672 activity 20 4 /tmp/sent
//! ```

use azure_messaging_eventhubs::{ProducerClient, SendEventOptions};
use std::time::{Duration, Instant};

/// A send not settled by then is abandoned and the connection rebuilt.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

async fn connect(addr: &str, cs: &str, hub: &str) -> ProducerClient {
    loop {
        match ProducerClient::builder()
            .with_custom_endpoint(format!("amqp://{addr}"))
            .open_with_connection_string(cs, Some(hub))
            .await
        {
            Ok(p) => return p,
            Err(e) => {
                eprintln!("waiting for the server: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:5672".into());
    let hub = args.get(2).cloned().unwrap_or_else(|| "activity".into());
    let rate: f64 = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(20.0);
    let partitions: u64 = args.get(4).and_then(|p| p.parse().ok()).unwrap_or(4);
    let sent_file = args.get(5).cloned();
    let cs = format!(
        "Endpoint=sb://soak.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=dGVzdA==;EntityPath={hub}"
    );
    let mut producer = connect(&addr, &cs, &hub).await;
    let start = Instant::now();
    let (mut n, mut failures) = (0u64, 0u64);
    loop {
        let records: Vec<serde_json::Value> = (0..5)
            .map(|j| {
                let key = (n * 5 + j) % 10 == 0;
                serde_json::json!({
                    "time": time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    "operationName": if key { "Microsoft.KeyVault/vaults/keys/read/action" } else { "Microsoft.Web/sites/write" },
                    "resultType": "Success",
                    "callerIpAddress": "10.0.0.1",
                    "correlationId": format!("soak-{n}-{j}"),
                    "resourceId": format!("/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/keys/k{n}"),
                    "properties": {"pad": "x".repeat(200)},
                })
            })
            .collect();
        let body = serde_json::json!({ "records": records }).to_string();
        let options = SendEventOptions {
            partition_id: Some((n % partitions).to_string()),
        };
        let sent = tokio::time::timeout(
            SEND_TIMEOUT,
            producer.send_event(body.into_bytes(), Some(options)),
        )
        .await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failures += 1;
                eprintln!("send failed ({failures} so far): {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => {
                // A send that is never settled: start over with a new connection.
                failures += 1;
                eprintln!("send not settled within {SEND_TIMEOUT:?} ({failures} failures so far); reconnecting");
                producer = connect(&addr, &cs, &hub).await;
                continue;
            }
        }
        n += 1;
        if let Some(path) = &sent_file {
            // Written whole then renamed, so a reader never sees a torn number.
            let tmp = format!("{path}.tmp");
            if std::fs::write(&tmp, n.to_string())
                .and_then(|()| std::fs::rename(&tmp, path))
                .is_err()
            {
                eprintln!("cannot record the sent count in {path}");
            }
        }
        if n % 1000 == 0 {
            eprintln!("sent {n} bodies, {failures} send failures");
        }
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
}
