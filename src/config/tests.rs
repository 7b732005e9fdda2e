use super::*;

const BASE: &str = r#"
[source]
kind = "file"
path = "a.jsonl"

[[sinks]]
kind = "stdout"
"#;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml(
        Path::new("test.toml"),
        text,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

/// The file source's paths (none for another kind).
fn paths(c: &Config) -> Vec<PathBuf> {
    match &c.source {
        SourceConfig::File(f) => f.path.clone(),
        _ => Vec::new(),
    }
}

#[test]
fn defaults_and_env_overrides() {
    let c = load(BASE, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(paths(&c), vec![PathBuf::from("a.jsonl")]);
    assert_eq!(c.checkpoint.cadence.interval_events, 100);
    assert!(c.rules.dedup);
    let c = load(
        BASE,
        &[
            ("HUBWATCH_RULES__DEDUP", "false"),
            ("HUBWATCH_CHECKPOINT__INTERVAL_EVENTS", "7"),
            ("HUBWATCH_SINKS__0__MIN_SEVERITY", "HIGH"),
            ("HUBWATCH_SINKS__1__KIND", "stdout"),
            ("HUBWATCH_SOURCE__PATH", r#"["x", "y"]"#),
            ("HUBWATCH_LOG_FORMAT", "json"),
            ("OTHER__VAR", "1"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.rules.dedup);
    assert_eq!(c.checkpoint.cadence.interval_events, 7);
    assert_eq!(c.sinks.len(), 2);
    assert_eq!(
        c.sinks[0].shared.min_severity,
        Some(crate::rules::spec::Severity::High)
    );
    assert_eq!(paths(&c).len(), 2);
}

#[test]
fn errors_name_the_key() {
    let err = |text: &str, env: &[(&str, &str)]| match load(text, env) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    let e = err(
        &BASE.replace("kind = \"file\"", "kind = \"file\"\nprefetch = \"many\""),
        &[],
    );
    assert!(e.contains("source.prefetch"), "{e}");
    let e = err(
        &BASE.replace("kind = \"file\"", "kind = \"file\"\ntypo = 1"),
        &[],
    );
    assert!(e.contains("typo"), "{e}");
    let e = err(BASE, &[("HUBWATCH_CHECKPOINT__INTERVAL_EVENTS", "0")]);
    assert!(e.contains("checkpoint.interval_events"), "{e}");
    let e = err(
        "[source]\nkind = \"eventhubs\"\neventhub = \"h\"\n[[sinks]]\nkind = \"stdout\"\n",
        &[],
    );
    assert!(e.contains("source.credential"), "{e}");
    let e = err(
        "[source]\nkind = \"eventhubs\"\neventhub = \"h\"\ncredential = \"connection-string\"\n[[sinks]]\nkind = \"stdout\"\n",
        &[],
    );
    assert!(e.contains("source.connection_string_env"), "{e}");
    let e = err(&BASE.replace("kind = \"stdout\"", "kind = \"file\""), &[]);
    assert!(e.contains("sinks[0].path"), "{e}");
    let e = err(BASE, &[("HUBWATCH_SINKS__5__KIND", "stdout")]);
    assert!(e.contains("HUBWATCH_SINKS__5__KIND"), "{e}");
    let e = err(
        &BASE.replace(
            "path = \"a.jsonl\"",
            "path = \"a\"\nstart_position = \"yesterday\"",
        ),
        &[],
    );
    assert!(e.contains("source.start_position"), "{e}");
}

#[test]
fn sink_names_are_unique_and_checked_with_the_rest() {
    let two = format!("{BASE}\n[[sinks]]\nkind = \"stdout\"\nname = \"stdout\"\n");
    match load(&two, &[]) {
        Ok(_) => panic!("a duplicate sink name was accepted"),
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains("sinks[1].name") && e.contains("\"stdout\""),
                "{e}"
            );
        }
    }
}

#[test]
fn env_overrides_of_string_keys_stay_strings() {
    let c = load(BASE, &[("HUBWATCH_SINKS__0__NAME", "2024")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sinks[0].shared.name.as_deref(), Some("2024"));
}

#[test]
fn a_bad_override_names_its_variable() {
    match load(BASE, &[("HUBWATCH_CHECKPOINT__INTERVAL_EVENTS", "many")]) {
        Ok(_) => panic!("a string was accepted for a number"),
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains("HUBWATCH_CHECKPOINT__INTERVAL_EVENTS")
                    && e.contains("checkpoint.interval_events"),
                "{e}"
            );
        }
    }
}

#[test]
fn blob_auth_is_checked_as_run_will_use_it() {
    let eventhubs = "[source]\nkind = \"eventhubs\"\nnamespace = \"ns.servicebus.windows.net\"\neventhub = \"h\"\ncredential = \"managed-identity\"\n[[sinks]]\nkind = \"stdout\"\n[checkpoint]\nkind = \"blob\"\ncontainer_url = \"https://a.blob.core.windows.net/c\"\n";
    let err = |extra: &str| match load(&format!("{eventhubs}{extra}"), &[]) {
        Ok(_) => panic!("accepted: {extra}"),
        Err(e) => e.to_string(),
    };
    assert!(err("auth = \"SAS\"\n").contains("checkpoint.auth"));
    assert!(err("auth = \"entra\"\n").contains("checkpoint.credential"));
    assert!(
        err("").contains("checkpoint.credential"),
        "entra is the default"
    );
    assert!(err("auth = \"sas\"\n").contains("checkpoint.sas_env"));
    assert!(
        err("auth = \"shared-key\"\naccount_name = \"a\"\n").contains("checkpoint.account_key_env")
    );
    assert!(err("credential = \"client-secret\"\n").contains("checkpoint.tenant_id"));
    for ok in [
        "auth = \"sas\"\nsas_env = \"X\"\n",
        "auth = \"shared-key\"\naccount_name = \"a\"\naccount_key_env = \"K\"\n",
        "credential = \"workload-identity\"\n",
    ] {
        load(&format!("{eventhubs}{ok}"), &[]).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn a_key_of_another_kind_is_refused_naming_it_and_its_entry() {
    let err = |text: &str, env: &[(&str, &str)]| match load(text, env) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    };
    let two = format!("{BASE}\n[[sinks]]\nkind = \"file\"\npath = \"a\"\nurl = \"https://h/\"\n");
    let e = err(&two, &[]);
    assert!(
        e.contains("sinks[1].url") && e.contains("unknown field"),
        "{e}"
    );
    let e = err(&format!("{BASE}\n[[sinks]]\nkind = \"file\"\n"), &[]);
    assert!(e.contains("sinks[1].path") && e.contains("required"), "{e}");
    let e = err(BASE, &[("HUBWATCH_SINKS__0__URL", "https://h/")]);
    assert!(
        e.contains("HUBWATCH_SINKS__0__URL") && e.contains("sinks[0].url"),
        "{e}"
    );
    let e = err(
        &format!("{BASE}[checkpoint]\nkind = \"memory\"\npath = \"x\"\n"),
        &[],
    );
    assert!(e.contains("checkpoint.path"), "{e}");
    let e = err(&format!("{BASE}[[sinks]]\nkind = \"pigeon\"\n"), &[]);
    assert!(e.contains("sinks[1].kind") && e.contains("pigeon"), "{e}");
}

#[test]
fn keys_below_a_kind_take_overrides_like_any_other() {
    let hub = "[source]\nkind = \"eventhubs\"\nnamespace = \"ns.servicebus.windows.net\"\neventhub = \"h\"\ncredential = \"managed-identity\"\n[[sinks]]\nkind = \"stdout\"\n";
    let c = load(hub, &[("HUBWATCH_SOURCE__EVENTHUB", "2024")]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.source.eventhubs().map(|s| s.eventhub.as_str()),
        Some("2024")
    );
    match load(hub, &[("HUBWATCH_SOURCE__PREFETCH", "many")]) {
        Ok(_) => panic!("a string was accepted for a number"),
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains("HUBWATCH_SOURCE__PREFETCH") && e.contains("source.prefetch"),
                "{e}"
            );
        }
    }
    let blob = format!("{hub}[checkpoint]\nkind = \"blob\"\ncontainer_url = \"https://a.blob.core.windows.net/c\"\nauth = \"sas\"\nsas_env = \"X\"\n");
    let c =
        load(&blob, &[("HUBWATCH_CHECKPOINT__SAS_ENV", "2024")]).unwrap_or_else(|e| panic!("{e}"));
    match c.checkpoint.blob().map(|b| &b.auth) {
        Some(BlobAuthConfig::Sas(s)) => assert_eq!(s.sas_env, "2024"),
        other => panic!("{other:?}"),
    }
    match load(&format!("{blob}account_name = \"a\"\n"), &[]) {
        Ok(_) => panic!("a shared-key key was accepted with auth = \"sas\""),
        Err(e) => assert!(e.to_string().contains("checkpoint.account_name"), "{e}"),
    }
    match load(&format!("{BASE}[backfill]\nauth = \"sas\"\n"), &[]) {
        Ok(_) => panic!("auth = \"sas\" was accepted without sas_env"),
        Err(e) => assert!(e.to_string().contains("backfill.sas_env"), "{e}"),
    }
}
