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
