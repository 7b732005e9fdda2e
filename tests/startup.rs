//! Start-up that rides out a blip: `hubwatch run` started before its checkpoint store (Azurite)
//! and Event Hubs (the local server) are up keeps retrying, `/readyz` names what it waits for,
//! and it turns ready once both come up; a dependency that never comes up stops it with the
//! cause after `service.startup_timeout_secs` (exit 2). A SIGTERM during start-up, even before
//! the configuration is read, is a clean stop (exit 0), not death by the signal.

mod support;

#[path = "support/azurite.rs"]
mod azurite;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use support::process::poll;
use support::service::*;

/// A loopback port nothing listens on (yet).
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn start(dir: &Path, eventhubs: SocketAddr, container_url: &str, timeout_secs: u64) -> Hubwatch {
    let config = config(dir, eventhubs, "");
    let timeout = timeout_secs.to_string();
    let env = [
        ("HUBWATCH_CHECKPOINT__KIND", "blob"),
        ("HUBWATCH_CHECKPOINT__CONTAINER_URL", container_url),
        ("HUBWATCH_CHECKPOINT__AUTH", "shared-key"),
        ("HUBWATCH_CHECKPOINT__ACCOUNT_NAME", azurite::ACCOUNT),
        (
            "HUBWATCH_CHECKPOINT__ACCOUNT_KEY_ENV",
            "HUBWATCH_TEST_ACCOUNT_KEY",
        ),
        ("HUBWATCH_TEST_ACCOUNT_KEY", azurite::KEY),
        ("HUBWATCH_CHECKPOINT__CREATE_CONTAINER", "true"),
        ("HUBWATCH_HTTP__LISTEN", "127.0.0.1:0"),
        ("HUBWATCH_SERVICE__STARTUP_TIMEOUT_SECS", timeout.as_str()),
    ];
    Hubwatch::start_with_env(&config, &dir.join("hubwatch.log"), &env)
}

fn wait_readyz(addr: SocketAddr, status: u16, needle: &str) -> String {
    let (_, body) = poll(addr, "/readyz", Duration::from_secs(60), |s, b| {
        s == status && b.contains(needle)
    });
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_storage_and_event_hubs_then_turns_ready() {
    let dir = tempfile::tempdir().unwrap();
    let blob = free_addr();
    let eventhubs = free_addr();
    let container_url = format!(
        "http://{blob}/{}/{}",
        azurite::ACCOUNT,
        azurite::unique_container("startup")
    );
    let hw = start(dir.path(), eventhubs, &container_url, 300);
    let log = dir.path().join("hubwatch.log");
    let http = tokio::task::block_in_place(|| http_addr_from_log(&log, Duration::from_secs(30)));

    // Nothing answers yet: unready, saying which dependency and why.
    let body = tokio::task::block_in_place(|| {
        wait_readyz(http, 503, "starting: checkpoint store unreachable: ")
    });
    eprintln!("/readyz while storage is down: {body}");
    assert!(
        body.contains("blob storage: PUT"),
        "the cause is given: {body}"
    );
    // Still retrying a few seconds later (the SDK-level retries alone give up within 2 s).
    tokio::time::sleep(Duration::from_secs(4)).await;
    tokio::task::block_in_place(|| {
        wait_readyz(http, 503, "starting: checkpoint store unreachable: ")
    });

    // Storage comes up: the container is created, and start-up waits for Event Hubs.
    let _az = azurite::Azurite::start_on(blob.port()).await;
    let body = tokio::task::block_in_place(|| {
        wait_readyz(http, 503, "starting: Event Hubs unreachable: ")
    });
    eprintln!("/readyz while Event Hubs is down: {body}");
    assert!(!body.contains("checkpoint store"), "{body}");

    // Event Hubs comes up: ready, and events flow.
    let emu = start_emulator_on(&eventhubs.to_string(), 2, None).await;
    tokio::task::block_in_place(|| wait_readyz(http, 200, "ready"));
    let producer = producer(emu.local_addr()).await;
    send(&producer, "0", &[matching_body("after-blip")]).await;
    let end = Instant::now() + Duration::from_secs(60);
    while !ids(&hw.alerts()).contains(&"after-blip".to_string()) {
        assert!(Instant::now() < end, "no alert: {}", tail(&log));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.matches("start-up dependency unreachable; retrying")
            .count(),
        1,
        "one WARN for the checkpoint store; Event Hubs has its own line: {}",
        tail(&log)
    );
    let (code, _) = tokio::task::block_in_place(|| hw.terminate(Duration::from_secs(20)));
    assert_eq!(code, Some(0), "{}", tail(&log));
    emu.shutdown().await;
}

/// Runs until the service exits on its own; its exit code and log.
fn exit_of(mut hw: Hubwatch, log: &Path, within: Duration) -> (Option<i32>, String) {
    let status = hw.wait_exit(within);
    (
        status.code(),
        std::fs::read_to_string(log).unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_store_that_never_answers_stops_start_up_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let blob = free_addr();
    let container_url = format!("http://{blob}/{}/never", azurite::ACCOUNT);
    let started = Instant::now();
    let hw = start(dir.path(), free_addr(), &container_url, 3);
    let log = dir.path().join("hubwatch.log");
    let (code, text) = tokio::task::block_in_place(|| exit_of(hw, &log, Duration::from_secs(60)));
    eprintln!("exited after {:?}", started.elapsed());
    assert_eq!(code, Some(2), "{text}");
    let failed = text
        .lines()
        .find(|l| l.contains("hubwatch failed"))
        .unwrap_or_else(|| panic!("no failure line: {text}"));
    eprintln!("{failed}");
    assert!(
        failed.contains("checkpoint store unreachable at start-up")
            && failed.contains("service.startup_timeout_secs = 3")
            && failed.contains("blob storage: PUT"),
        "{failed}"
    );
    // Retried within the bound, not given up after the first failure.
    assert!(
        text.contains("start-up dependency unreachable; retrying"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_hubs_that_never_answer_stop_start_up_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let az = azurite::Azurite::start().await;
    let container_url = az.container_url(&azurite::unique_container("startup"));
    let hw = start(dir.path(), free_addr(), &container_url, 3);
    let log = dir.path().join("hubwatch.log");
    let (code, text) = tokio::task::block_in_place(|| exit_of(hw, &log, Duration::from_secs(60)));
    assert_eq!(code, Some(2), "{text}");
    let failed = text
        .lines()
        .find(|l| l.contains("hubwatch failed"))
        .unwrap_or_else(|| panic!("no failure line: {text}"));
    eprintln!("{failed}");
    assert!(
        failed.contains("Event Hubs unreachable at start-up"),
        "{failed}"
    );
    assert!(
        text.contains("cannot connect to Event Hubs; retrying"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_while_the_configuration_is_read_is_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    // The configuration comes through a FIFO, so the process waits in Config::load until the
    // test writes it: the signal arrives at that moment, deterministically.
    let fifo = dir.path().join("config.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let text = std::fs::read_to_string(config(dir.path(), free_addr(), "")).unwrap();
    let log = dir.path().join("hubwatch.log");
    let hw = Hubwatch::start(&fifo, &log);
    // The runtime's worker threads exist once the signal handlers are about to be registered
    // (the next statement); the process then blocks opening the FIFO.
    let pid = hw.pid();
    let end = Instant::now() + Duration::from_secs(30);
    while support::process::status_kib(pid, "Threads:") < 2 {
        assert!(
            Instant::now() < end,
            "no runtime before reading the configuration"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    hw.signal("TERM");
    std::fs::write(&fifo, text).expect("configuration written to the FIFO");
    let (code, text) = tokio::task::block_in_place(|| exit_of(hw, &log, Duration::from_secs(60)));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("SIGTERM received"), "{text}");
}
