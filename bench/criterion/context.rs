//! Criterion benchmark of the context store: one replica's Key Vault operations, extracted
//! from bodies and written durably, into each store (a SQLite file; a real `redis-server`,
//! `REDIS_URL` or one started here).
//!
//! `cargo bench --bench context` (figures in bench/README.md, "Context store").

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hubwatch::alert::Origin;
use hubwatch::context::{self, ContextConfig, ContextStore, StoreKind};
use hubwatch::decode::DecodeLimits;
use hubwatch::health::Health;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A body of `n` AuditEvent records, each unique (so every write stores new rows).
fn body(n: usize) -> Vec<u8> {
    let records: Vec<_> = (0..n)
        .map(|_| {
            let i = SEQ.fetch_add(1, Ordering::Relaxed);
            json!({
                "time": format!("2026-01-10T{:02}:{:02}:{:02}Z", (i / 3600) % 24, (i / 60) % 60, i % 60),
                "category": "AuditEvent", "operationName": if i.is_multiple_of(3) { "KeySign" } else { "SecretGet" },
                "resultType": "Success", "resultSignature": "OK",
                "resourceId": format!("/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV{}", i % 20),
                "callerIpAddress": format!("203.0.113.{}", i % 250), "correlationId": format!("c-{i}"),
                "identity": {"claim": {"oid": format!("oid-{}", i % 500), "appid": "app"}},
                "properties": {"id": format!("https://kv{}.vault.azure.net/keys/k{}/v1", i % 20, i % 50), "httpStatusCode": 200}
            })
        })
        .collect();
    json!({ "records": records }).to_string().into_bytes()
}

fn redis_server() -> Option<(String, Option<std::process::Child>)> {
    if let Ok(url) = std::env::var("REDIS_URL") {
        return Some((url, None));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            "/tmp",
        ])
        .arg("--appendfilename")
        .arg(format!("hubwatch-bench-{port}.aof"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    Some((format!("redis://127.0.0.1:{port}"), Some(child)))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut stores: Vec<(String, ContextConfig)> = vec![(
        "sqlite".into(),
        ContextConfig {
            enabled: true,
            path: Some(dir.path().join("context.sqlite")),
            ..ContextConfig::default()
        },
    )];
    let server = redis_server();
    if let Some((url, _)) = &server {
        let mut c = ContextConfig {
            enabled: true,
            store: StoreKind::Redis,
            ..ContextConfig::default()
        };
        c.redis.url = Some(url.clone());
        c.redis.key_prefix = format!("bench:{}:", std::process::id());
        stores.push(("redis".into(), c));
    }
    let source = Origin::File {
        path: "bench".into(),
        line: 1,
        record_index: None,
    };
    let limits = DecodeLimits::default();
    let mut group = c.benchmark_group("context_write");
    for (name, config) in &stores {
        let (store, cx): (Arc<dyn ContextStore>, _) = rt.block_on(async {
            let store = context::open(config, dir.path()).await.expect("store");
            let cx = context::Context::start(store.clone(), config, Health::new()).await;
            (store, cx)
        });
        let _ = store;
        for per_body in [5usize, 50] {
            group.throughput(Throughput::Elements(per_body as u64));
            group.bench_function(format!("{name}/{per_body}_records_per_body"), |b| {
                b.iter_batched(
                    || body(per_body),
                    |body| {
                        rt.block_on(async {
                            let ops = cx.extract(&body, &source, &limits);
                            assert_eq!(ops.len(), per_body);
                            match cx.write(ops).await {
                                context::Written::Durable => {}
                                context::Written::Retry(_) => panic!("{name} write failed"),
                            }
                        })
                    },
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
    if let Some((_, Some(mut child))) = server {
        let _ = child.kill();
        let _ = child.wait();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
