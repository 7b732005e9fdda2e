//! Both context stores (a real SQLite file, a real `redis-server`) against one set of
//! expectations: idempotent writes, each question's records in its window ordered by time then
//! id, retention behind the newest event time, follow-ups kept until completed; SQLite stays
//! under `max_bytes`; a Redis access key is used for AUTH and never shows in an error; with
//! Entra ID the identity's token (scope `https://redis.azure.com/.default`) is the password.

#[path = "support/credential.rs"]
mod credential;
#[path = "support/redis.rs"]
mod redis_support;

use hubwatch::context::config::{RedisAuth, StoreKind};
use hubwatch::context::sqlite::SqliteStore;
use hubwatch::context::{self, ContextConfig, ContextStore, FollowUp, KvOp, Query};
use redis_support::{unique_prefix, Redis};
use std::sync::Arc;

const DAY: i64 = 86_400_000;

fn op(id: &str, time_ms: i64, ip: &str, identity: &str, crypto: bool) -> KvOp {
    KvOp {
        id: id.into(),
        time_ms,
        vault: "kv".into(),
        object_type: "key".into(),
        object: "k".into(),
        operation: if crypto { "KeySign" } else { "KeyGet" }.into(),
        outcome: "success".into(),
        caller_ip: ip.into(),
        identity: identity.into(),
        identity_name: String::new(),
        correlation_id: format!("c-{id}"),
        crypto,
    }
}

async fn conformance(store: Arc<dyn ContextStore>, maintain: impl Fn()) {
    let kind = store.kind();
    let ops = vec![
        op("b", 1000, "1.1.1.1", "me", true),
        op("a", 1000, "1.1.1.1", "me", false),
        op("c", 2000, "1.1.1.1", "you", true),
        op("d", 3000, "2.2.2.2", "me", false),
    ];
    store.write(&ops).await.unwrap();
    store.write(&ops).await.unwrap(); // a replay: nothing twice
    let ip = Query::CallerIp("1.1.1.1".into());
    let got = store.query(&ip, 0, 10_000, 100).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        ids,
        ["c", "b", "a"],
        "{kind}: newest first, then id descending"
    );
    assert_eq!(got[0], ops[2], "{kind}: round trip");
    let got = store.query(&ip, 1000, 1999, 100).await.unwrap();
    assert_eq!(got.len(), 2, "{kind}: inclusive window");
    let got = store.query(&ip, 0, 10_000, 1).await.unwrap();
    assert_eq!(got.len(), 1, "{kind}: limit");
    let key = Query::Key {
        vault: "kv".into(),
        key: "k".into(),
    };
    let got = store.query(&key, 0, 10_000, 100).await.unwrap();
    assert_eq!(
        got.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["c", "b"],
        "{kind}: crypto only"
    );
    let me = store
        .query(&Query::Identity("me".into()), 0, 10_000, 100)
        .await
        .unwrap();
    assert_eq!(me.len(), 3, "{kind}");
    // Retention: 40 days later, what is older than 30 days behind it is gone once written past.
    store
        .write(&[op("e", 40 * DAY, "1.1.1.1", "me", false)])
        .await
        .unwrap();
    maintain();
    let me = store
        .query(&Query::Identity("me".into()), 0, 100 * DAY, 100)
        .await
        .unwrap();
    assert_eq!(
        me.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["e"],
        "{kind}: retention"
    );
    // Follow-ups.
    let f = |id: &str, due: i64| FollowUp {
        alert_id: id.into(),
        due_ms: due,
        alert: format!("{{\"alert_id\":\"{id}\"}}"),
    };
    store.schedule(&[f("x", 500), f("y", 100)]).await.unwrap();
    store.schedule(&[f("x", 500)]).await.unwrap();
    assert_eq!(store.next_due().await.unwrap(), Some(100), "{kind}");
    let due = store.due(499, 10).await.unwrap();
    assert_eq!(due, vec![f("y", 100)], "{kind}");
    let due = store.due(1000, 10).await.unwrap();
    assert_eq!(due.len(), 2, "{kind}");
    store.complete("y").await.unwrap();
    assert_eq!(
        store.due(1000, 10).await.unwrap(),
        vec![f("x", 500)],
        "{kind}"
    );
    store.complete("x").await.unwrap();
    assert_eq!(store.next_due().await.unwrap(), None, "{kind}");
}

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(SqliteStore::open(&dir.path().join("c.sqlite"), 30 * DAY, 1 << 30).unwrap());
    let s = store.clone();
    conformance(store, move || {
        s.maintain().unwrap();
    })
    .await;
}

#[tokio::test]
async fn redis_store_conforms() {
    let Some(redis) = Redis::shared() else { return };
    let mut config = ContextConfig {
        enabled: true,
        store: StoreKind::Redis,
        ..ContextConfig::default()
    };
    config.redis.url = Some(redis.url.clone());
    config.redis.key_prefix = unique_prefix("conformance");
    config.validate().unwrap();
    let store = context::open(&config, std::path::Path::new("."))
        .await
        .unwrap();
    conformance(store, || {}).await;
}

#[tokio::test]
async fn sqlite_stays_under_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    let max = 1u64 << 20;
    let store = SqliteStore::open(&path, 3650 * DAY, max).unwrap();
    for batch in 0..200 {
        let ops: Vec<KvOp> = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                op(
                    &format!("{n:08}"),
                    n,
                    &format!("10.0.{}.{}", n % 200, n % 7),
                    &format!("id-{}", n % 300),
                    n % 2 == 0,
                )
            })
            .collect();
        store.write(&ops).await.unwrap();
    }
    store.maintain().unwrap();
    let n = store.count().unwrap();
    assert!(n > 0 && n < 10_000, "the oldest were deleted: {n} left");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size <= max + (64 << 10),
        "file of {size} bytes over the {max} bound"
    );
    // The newest survived.
    let got = store
        .query(&Query::Identity("id-299".into()), 0, i64::MAX, 1)
        .await
        .unwrap();
    assert_eq!(got[0].id, "00009899");
}

#[tokio::test]
async fn redis_access_key_is_used_and_never_shown() {
    let Some(redis) = Redis::start() else { return };
    const KEY: &str = "s3cret-access-key-do-not-log";
    let mut admin = redis.connection();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(KEY)
        .query::<()>(&mut admin)
        .unwrap();
    let mut config = ContextConfig {
        enabled: true,
        store: StoreKind::Redis,
        ..ContextConfig::default()
    };
    config.redis.url = Some(redis.url.clone());
    config.redis.key_prefix = unique_prefix("auth");
    config.redis.auth = RedisAuth::AccessKey;
    config.redis.access_key_env = Some("HUBWATCH_TEST_REDIS_KEY".into());
    // No other test of this binary reads or writes this variable.
    std::env::set_var("HUBWATCH_TEST_REDIS_KEY", KEY);
    let store = context::open(&config, std::path::Path::new("."))
        .await
        .unwrap();
    store
        .write(&[op("a", 1, "1.1.1.1", "me", false)])
        .await
        .unwrap();
    // A wrong key: refused, and the error names neither key.
    std::env::set_var("HUBWATCH_TEST_REDIS_KEY", "wrong-key-also-secret");
    let store = context::open(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let e = store
        .write(&[op("b", 1, "1.1.1.1", "me", false)])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        !e.contains(KEY) && !e.contains("wrong-key-also-secret"),
        "{e}"
    );
    assert!(e.contains("redis"), "{e}");
}

#[tokio::test]
async fn redis_entra_token_is_the_password_of_the_identity() {
    let Some(redis) = Redis::start() else { return };
    let token = credential::FakeCredential::token_for(&[hubwatch::context::entra::REDIS_SCOPE]);
    let mut admin = redis.connection();
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("oid-of-the-identity")
        .arg("on")
        .arg(format!(">{token}"))
        .arg("~*")
        .arg("+@all")
        .query::<()>(&mut admin)
        .unwrap();
    // Nobody else gets in.
    redis::cmd("ACL")
        .arg("SETUSER")
        .arg("default")
        .arg("off")
        .query::<()>(&mut admin)
        .unwrap();
    let mut config = ContextConfig {
        enabled: true,
        store: StoreKind::Redis,
        ..ContextConfig::default()
    };
    config.redis.url = Some(redis.url.clone());
    config.redis.key_prefix = unique_prefix("entra");
    config.redis.auth = RedisAuth::Entra;
    config.redis.credential = Some(hubwatch::config::CredentialKind::ManagedIdentity);
    config.redis.username = Some("oid-of-the-identity".into());
    config.validate().unwrap();
    let fake = Arc::new(credential::FakeCredential::default());
    let store =
        hubwatch::context::redis::RedisStore::open_with(&config, Some(fake.clone())).unwrap();
    store
        .write(&[op("a", 1, "1.1.1.1", "me", false)])
        .await
        .unwrap();
    let got = store
        .query(&Query::Identity("me".into()), 0, 10, 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(fake.scopes(), ["https://redis.azure.com/.default"]);
    // Without a username the configuration is refused.
    config.redis.username = None;
    assert_eq!(config.validate().unwrap_err().0, "redis.username");
}
