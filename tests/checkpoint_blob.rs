//! `BlobCheckpointStore`: the shared conformance suite (`conformance::*`, see
//! `tests/support/checkpoint_conformance.rs`) against Azurite (see `tests/support/azurite.rs`
//! for how Azurite is found or started), and the blob store's own behaviour: the cross-SDK blob
//! layout and metadata, SAS and Entra ID auth, continuation markers, retries, and errors that
//! name no secret.

#[path = "support/azurite.rs"]
mod azurite;
#[macro_use]
#[path = "support/checkpoint_conformance.rs"]
mod checkpoint_conformance;
#[path = "support/credential.rs"]
mod credential;

use azure_messaging_eventhubs::CheckpointStore;
use azurite::{unique_container, Azurite, ACCOUNT, KEY};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use checkpoint_conformance::{checkpoint, ownership, Fixture, CG, HUB, NS};
use credential::FakeCredential;
use hmac::{Hmac, Mac};
use hubwatch::checkpoint::{BlobAuth, BlobCheckpointStore, BlobCheckpointStoreOptions};
use sha2::Sha256;
use std::{future::Future, sync::Arc, time::Duration};
use time::OffsetDateTime;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Fails the test instead of hanging.
async fn bounded<F: Future<Output = ()>>(f: F) {
    checkpoint_conformance::bounded(TIMEOUT, f).await;
}

fn options() -> BlobCheckpointStoreOptions {
    BlobCheckpointStoreOptions {
        request_timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

async fn store(azurite: &Azurite, container: &str) -> BlobCheckpointStore {
    let store = BlobCheckpointStore::new(
        &azurite.container_url(container),
        BlobAuth::shared_key(ACCOUNT, KEY),
        options(),
    )
    .expect("store");
    store
        .create_container_if_missing()
        .await
        .expect("create container");
    store
}

/// A fresh container on Azurite (created here); every `open` is a new `BlobCheckpointStore`
/// over it with Shared Key auth, as a restarted replica would build it.
struct BlobFixture {
    azurite: Azurite,
    container: String,
}

impl Fixture for BlobFixture {
    type Store = BlobCheckpointStore;
    const TIMEOUT: Duration = TIMEOUT;

    async fn create() -> BlobFixture {
        let azurite = Azurite::start().await;
        let container = unique_container("conformance");
        store(&azurite, &container).await;
        BlobFixture { azurite, container }
    }

    fn open(&self) -> BlobCheckpointStore {
        BlobCheckpointStore::new(
            &self.azurite.container_url(&self.container),
            BlobAuth::shared_key(ACCOUNT, KEY),
            options(),
        )
        .expect("store")
    }

    /// An independent instance (its own HTTP client): the service decides the race.
    fn competitor(&self, _store: &BlobCheckpointStore) -> BlobCheckpointStore {
        self.open()
    }
}

checkpoint_conformance!(BlobFixture);

#[tokio::test]
async fn listing_follows_continuation_markers() {
    bounded(async {
        let azurite = Azurite::start().await;
        let container = unique_container("pages");
        let store = BlobCheckpointStore::new(
            &azurite.container_url(&container),
            BlobAuth::shared_key(ACCOUNT, KEY),
            BlobCheckpointStoreOptions {
                list_page_size: Some(2),
                ..options()
            },
        )
        .unwrap();
        store.create_container_if_missing().await.unwrap();
        store.create_container_if_missing().await.unwrap(); // idempotent
        let claims: Vec<_> = (0..7)
            .map(|p| ownership(&p.to_string(), "o", None))
            .collect();
        assert_eq!(store.claim_ownership(&claims).await.unwrap().len(), 7);
        for p in 0..5 {
            store
                .update_checkpoint(checkpoint(&p.to_string(), p, "1"))
                .await
                .unwrap();
        }
        assert_eq!(store.list_ownerships(NS, HUB, CG).await.unwrap().len(), 7);
        assert_eq!(store.list_checkpoints(NS, HUB, CG).await.unwrap().len(), 5);
    })
    .await;
}

/// Signs a HEAD request with Shared Key independently of the store, to look
/// at the raw blob the store wrote.
fn signed_head(url: &str, path: &str) -> reqwest::RequestBuilder {
    let date = httpdate_now();
    let version = "2021-12-02";
    let to_sign = format!(
        "HEAD\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}{path}"
    );
    let key = BASE64.decode(KEY).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = BASE64.encode(mac.finalize().into_bytes());
    reqwest::Client::new()
        .head(url)
        .header("x-ms-date", date)
        .header("x-ms-version", version)
        .header("authorization", format!("SharedKey {ACCOUNT}:{sig}"))
}

fn httpdate_now() -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::now_utc().format(&fmt).unwrap()
}

#[tokio::test]
async fn raw_blobs_use_the_cross_sdk_layout_and_metadata() {
    bounded(async {
        let azurite = Azurite::start().await;
        let container = unique_container("layout");
        let store = store(&azurite, &container).await;
        store
            .claim_ownership(&[ownership("0", "owner-a", None)])
            .await
            .unwrap();
        store
            .update_checkpoint(checkpoint("0", 42, "8192"))
            .await
            .unwrap();

        let account_path = reqwest::Url::parse(&azurite.account_url)
            .unwrap()
            .path()
            .to_string();
        // Lower-cased namespace, hub and consumer group, as .NET/Python/Java do.
        let prefix = "hubwatch-test.servicebus.windows.net/activity-logs/$default";
        for (kind, expect) in [
            ("ownership", vec![("x-ms-meta-ownerid", "owner-a")]),
            (
                "checkpoint",
                vec![
                    ("x-ms-meta-sequencenumber", "42"),
                    ("x-ms-meta-offset", "8192"),
                ],
            ),
        ] {
            let path = format!("{account_path}/{container}/{prefix}/{kind}/0");
            let url = format!("{}/{container}/{prefix}/{kind}/0", azurite.account_url);
            let resp = signed_head(&url, &path).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200, "HEAD {kind} blob");
            let h = resp.headers();
            assert_eq!(h.get("x-ms-blob-type").unwrap(), "BlockBlob");
            assert_eq!(h.get("content-length").unwrap(), "0");
            for (name, value) in expect {
                assert_eq!(
                    h.get(name).map(|v| v.to_str().unwrap()),
                    Some(value),
                    "{kind}: header {name}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn wrong_key_is_an_error_without_secrets() {
    bounded(async {
        let azurite = Azurite::start().await;
        let wrong_key = BASE64.encode(b"definitely-not-the-key-0123456789");
        let store = BlobCheckpointStore::new(
            &azurite.container_url(&unique_container("auth")),
            BlobAuth::shared_key(ACCOUNT, wrong_key.clone()),
            options(),
        )
        .unwrap();
        let err = store.list_ownerships(NS, HUB, CG).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("403"), "{text}");
        assert!(!text.contains(&wrong_key), "{text}");
    })
    .await;
}

#[tokio::test]
async fn transport_errors_redact_the_sas() {
    bounded(async {
        // Nothing listens on this port once the listener is dropped.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = BlobCheckpointStore::new(
            &format!("http://127.0.0.1:{port}/{ACCOUNT}/c"),
            BlobAuth::sas("?sv=2021-12-02&sig=TOP-SECRET-SIG"),
            BlobCheckpointStoreOptions {
                max_retries: 1,
                initial_backoff: Duration::from_millis(10),
                ..options()
            },
        )
        .unwrap();
        let err = store
            .update_checkpoint(checkpoint("0", 1, "1"))
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("TOP-SECRET-SIG"), "{text}");
        assert!(text.contains("2 attempt"), "{text}");
    })
    .await;
}

/// An account SAS for Azurite's dev account with read, write, delete, list, add and create.
fn account_sas() -> String {
    azurite::account_sas("rwdlac")
}

#[tokio::test]
async fn sas_auth_works_as_option_and_in_the_url() {
    bounded(async {
        let azurite = Azurite::start().await;
        let container = unique_container("sas");
        let sas = account_sas();

        let by_option = BlobCheckpointStore::new(
            &azurite.container_url(&container),
            BlobAuth::sas(format!("?{sas}")),
            options(),
        )
        .unwrap();
        by_option.create_container_if_missing().await.unwrap();
        let claimed = by_option
            .claim_ownership(&[ownership("0", "owner-a", None)])
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        by_option
            .update_checkpoint(checkpoint("0", 9, "900"))
            .await
            .unwrap();

        let in_url = BlobCheckpointStore::new(
            &format!("{}?{sas}", azurite.container_url(&container)),
            BlobAuth::Anonymous,
            options(),
        )
        .unwrap();
        assert!(!format!("{in_url:?}").contains("sig="));
        let owns = in_url.list_ownerships(NS, HUB, CG).await.unwrap();
        assert_eq!(owns.len(), 1);
        assert_eq!(owns[0].etag, claimed[0].etag);
        let renewed = in_url
            .claim_ownership(&[ownership("0", "owner-a", owns[0].etag.clone())])
            .await
            .unwrap();
        assert_eq!(renewed.len(), 1);
        let cps = in_url.list_checkpoints(NS, HUB, CG).await.unwrap();
        assert_eq!(cps[0].sequence_number, Some(9));

        // Without credentials the same container is refused (403), and the
        // error names no secret.
        let anonymous = BlobCheckpointStore::new(
            &azurite.container_url(&container),
            BlobAuth::Anonymous,
            options(),
        )
        .unwrap();
        let err = anonymous.list_ownerships(NS, HUB, CG).await.unwrap_err();
        assert!(err.to_string().contains("403"), "{err}");
    })
    .await;
}

/// A one-request-per-connection HTTP server answering with `responses` in
/// order (the last one repeats), recording each request head.
async fn mock_blob_server(
    responses: Vec<(u16, &'static str)>,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut i = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).into_owned());
            let (status, body) = responses[i.min(responses.len() - 1)];
            i += 1;
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}/{ACCOUNT}/c"), seen)
}

const EMPTY_LIST: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>";

#[tokio::test]
async fn entra_token_is_sent_as_bearer_and_cached() {
    bounded(async {
        let (url, seen) = mock_blob_server(vec![(200, EMPTY_LIST)]).await;
        let credential = Arc::new(FakeCredential::default());
        let store =
            BlobCheckpointStore::new(&url, BlobAuth::token(credential.clone()), options()).unwrap();
        assert!(store.list_ownerships(NS, HUB, CG).await.unwrap().is_empty());
        assert!(store
            .list_checkpoints(NS, HUB, CG)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(credential.calls(), 1, "token is cached");
        assert_eq!(
            credential.scopes(),
            vec!["https://storage.azure.com/.default".to_string()]
        );
        let requests = seen.lock().unwrap().clone();
        assert_eq!(requests.len(), 2);
        for r in &requests {
            let lower = r.to_ascii_lowercase();
            assert!(
                lower.contains(
                    "authorization: bearer fake-token-for-https://storage.azure.com/.default"
                ),
                "{r}"
            );
            assert!(lower.contains("x-ms-version: 2021-12-02"), "{r}");
            assert!(lower.contains("x-ms-date: "), "{r}");
        }
    })
    .await;
}

#[tokio::test]
async fn transient_statuses_are_retried() {
    bounded(async {
        let (url, seen) =
            mock_blob_server(vec![(503, ""), (429, ""), (500, ""), (200, EMPTY_LIST)]).await;
        let store = BlobCheckpointStore::new(
            &url,
            BlobAuth::shared_key(ACCOUNT, KEY),
            BlobCheckpointStoreOptions {
                max_retries: 3,
                initial_backoff: Duration::from_millis(10),
                ..options()
            },
        )
        .unwrap();
        assert!(store.list_ownerships(NS, HUB, CG).await.unwrap().is_empty());
        assert_eq!(seen.lock().unwrap().len(), 4);

        // Retries are bounded: with none left the status is returned.
        let (url, seen) = mock_blob_server(vec![(503, "")]).await;
        let store = BlobCheckpointStore::new(
            &url,
            BlobAuth::shared_key(ACCOUNT, KEY),
            BlobCheckpointStoreOptions {
                max_retries: 2,
                initial_backoff: Duration::from_millis(10),
                ..options()
            },
        )
        .unwrap();
        let err = store.list_ownerships(NS, HUB, CG).await.unwrap_err();
        assert_eq!(err.http_status().map(u16::from), Some(503));
        assert_eq!(seen.lock().unwrap().len(), 3);

        // A 4xx other than 408/429 is not retried.
        let (url, seen) = mock_blob_server(vec![(403, "")]).await;
        let store =
            BlobCheckpointStore::new(&url, BlobAuth::shared_key(ACCOUNT, KEY), options()).unwrap();
        assert!(store.list_ownerships(NS, HUB, CG).await.is_err());
        assert_eq!(seen.lock().unwrap().len(), 1);
    })
    .await;
}
