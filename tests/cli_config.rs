//! Every command that takes a configuration takes it the same ways (`--config`, `-c`,
//! `HUBWATCH_CONFIG`), and a missing file is one clear line.

use std::process::Command;

fn hubwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hubwatch"))
}

#[test]
fn a_missing_config_is_named_once_however_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    for cmd in ["run", "check-config", "redrive"] {
        let extra: &[&str] = if cmd == "redrive" { &["x.jsonl"] } else { &[] };
        let ways: [(&[&str], Option<&std::path::Path>); 3] = [
            (&["--config"], None),
            (&["-c"], None),
            (&[], Some(&missing)),
        ];
        for (flag, env) in ways {
            let mut c = hubwatch();
            c.arg(cmd).args(flag);
            if env.is_none() {
                c.arg(&missing);
            }
            match env {
                Some(path) => c.env("HUBWATCH_CONFIG", path),
                None => c.env_remove("HUBWATCH_CONFIG"),
            };
            let out = c.args(extra).current_dir(dir.path()).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {flag:?}: {stderr}");
            assert_eq!(
                stderr.matches("No such file or directory").count(),
                1,
                "{cmd} {flag:?}: {stderr}"
            );
            assert!(
                stderr.contains(&format!("cannot read {}", missing.display())),
                "{stderr}"
            );
        }
    }
}

/// `check-config` reads every secret the configuration names, as `run` will, and never prints
/// one: an unset variable or a missing file is an error naming the key.
#[test]
fn check_config_confirms_every_secret_exists() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let secret_file = dir.path().join("hmac");
    std::fs::write(
        &config,
        format!(
            r#"
[source]
kind = "file"
path = "in.jsonl"

[[sinks]]
kind = "webhook"
url = "https://example.invalid/hook"
auth = "bearer"
token_env = "HW_TEST_WEBHOOK_TOKEN"

[[sinks]]
kind = "webhook"
url = "https://example.invalid/hook2"
auth = "hmac"
secret_file = "{}"
"#,
            secret_file.display()
        ),
    )
    .unwrap();
    let check = |token: Option<&str>| {
        let mut c = hubwatch();
        c.args(["check-config", "-c"]).arg(&config);
        match token {
            Some(t) => c.env("HW_TEST_WEBHOOK_TOKEN", t),
            None => c.env_remove("HW_TEST_WEBHOOK_TOKEN"),
        };
        let out = c.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, text) = check(None);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("sinks[0].token_env") && text.contains("HW_TEST_WEBHOOK_TOKEN"),
        "{text}"
    );
    let (code, text) = check(Some("t0ken-VALUE"));
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("sinks[1].secret_file"), "{text}");
    assert!(!text.contains("t0ken-VALUE"), "{text}");
    std::fs::write(&secret_file, "s3cret-VALUE\n").unwrap();
    let (code, text) = check(Some("t0ken-VALUE"));
    assert_eq!(code, Some(0), "{text}");
    assert!(
        !text.contains("t0ken-VALUE") && !text.contains("s3cret-VALUE"),
        "{text}"
    );
}
