//! Criterion benchmarks of the detection core, per stage: `decode` (validating a body and
//! splitting it into records, with the fast path and with `serde_json` alone), `scan` (the
//! prefilter alone, with the default rules and with every built-in rule: its cost should not
//! grow with the number of rules), `record_parse` (a record's text into the map rules read,
//! with hubwatch's builder and with `serde_json`), `detect` (decode, prefilter, rules, dedup
//! and alerts, per body, with each selection) and `alert_json` (the alerts of the whole pack
//! serialized, what the sinks write).
//!
//! `cargo bench --bench pipeline` (see bench/README.md for the figures).

mod corpus;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hubwatch::alert::Origin;
use hubwatch::decode::{decode_body, decode_body_with_serde_json, DecodeLimits};
use hubwatch::dedup::Deduper;
use hubwatch::detect::Detector;
use hubwatch::prefilter::Prefilter;
use hubwatch::record::parse_object;
use hubwatch::rules::loader::RuleOptions;
use hubwatch::rules::RuleSet;
use std::sync::Arc;

fn rule_set(all: bool) -> RuleSet {
    let mut options = RuleOptions::default();
    if all {
        options.builtin = vec!["*".into()];
    }
    RuleSet::load(&options).expect("built-in rules").0
}

fn bench(c: &mut Criterion) {
    let source = Origin::File {
        path: "bench".into(),
        line: 1,
        record_index: None,
    };
    let corpus = |fraction| {
        corpus::generate(&corpus::CorpusSpec {
            seed: 42,
            bodies: 400,
            key_op_fraction: fraction,
        })
    };
    let mut group = c.benchmark_group("detect");
    for (name, fraction, all) in [
        ("keyops_0.1pct", 0.001, false),
        ("keyops_3pct", 0.03, false),
        ("keyops_0.1pct_all_rules", 0.001, true),
    ] {
        let detector = Detector::new(Arc::new(rule_set(all)), DecodeLimits::default());
        let bodies = corpus(fraction);
        let bytes: usize = bodies.iter().map(|b| b.len()).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut dedup = Deduper::new(true);
                let now = time::OffsetDateTime::now_utc();
                let mut alerts = 0;
                for body in &bodies {
                    alerts += detector
                        .process(body.as_bytes(), &source, &mut dedup, now)
                        .alerts
                        .len();
                }
                alerts
            })
        });
    }
    group.finish();

    let bodies = corpus(0.001);
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(bytes as u64));
    let limits = DecodeLimits::default();
    group.bench_function("keyops_0.1pct", |b| {
        b.iter(|| {
            bodies
                .iter()
                .map(|body| decode_body(body.as_bytes(), &limits).map_or(0, |d| d.total()))
                .sum::<usize>()
        })
    });
    // The same bodies without the hand-written fast path: what it saves.
    group.bench_function("keyops_0.1pct_serde_json", |b| {
        b.iter(|| {
            bodies
                .iter()
                .map(|body| {
                    decode_body_with_serde_json(body.as_bytes(), &limits).map_or(0, |d| d.total())
                })
                .sum::<usize>()
        })
    });
    group.finish();

    // Every record of the bodies (the full pack parses a fifth of them).
    let records: Vec<&str> = bodies
        .iter()
        .filter_map(|body| decode_body(body.as_bytes(), &limits).ok())
        .flat_map(|d| d.records.into_iter().map(|r| r.text))
        .collect();
    let mut group = c.benchmark_group("record_parse");
    group.throughput(Throughput::Bytes(
        records.iter().map(|r| r.len() as u64).sum::<u64>(),
    ));
    group.bench_function("hubwatch", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| parse_object(r).map_or(0, |m| m.len()))
                .sum::<usize>()
        })
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            records
                .iter()
                .map(|r| {
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(r)
                        .map_or(0, |m| m.len())
                })
                .sum::<usize>()
        })
    });
    group.finish();

    let detector = Detector::new(Arc::new(rule_set(true)), DecodeLimits::default());
    let mut dedup = Deduper::new(false);
    let now = time::OffsetDateTime::now_utc();
    let alerts: Vec<_> = bodies
        .iter()
        .flat_map(|body| {
            detector
                .process(body.as_bytes(), &source, &mut dedup, now)
                .alerts
        })
        .collect();
    let mut group = c.benchmark_group("alert_json");
    group.throughput(Throughput::Elements(alerts.len() as u64));
    group.bench_function("all_rules_keyops_0.1pct", |b| {
        b.iter(|| alerts.iter().map(|a| a.to_json().len()).sum::<usize>())
    });
    group.finish();

    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(bytes as u64));
    for (name, all) in [("default_rules", false), ("all_rules", true)] {
        let needles = rule_set(all)
            .rules
            .iter()
            .map(|r| r.logic.needles())
            .collect();
        let prefilter = Prefilter::new(needles).expect("every built-in rule names needles");
        group.bench_function(name, |b| {
            b.iter(|| {
                bodies
                    .iter()
                    .filter(|body| {
                        prefilter.scan(body.as_bytes()) != hubwatch::prefilter::Hits::None
                    })
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
