//! Criterion benchmark of the detection core: decode + rules + dedup + alerts, per body.
//!
//! `cargo bench --bench pipeline` (see bench/README.md for the figures).

mod corpus;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hubwatch::alert::Source;
use hubwatch::decode::DecodeLimits;
use hubwatch::dedup::Deduper;
use hubwatch::detect::Detector;
use hubwatch::rules::RuleSet;
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let rules = Arc::new(RuleSet::embedded().expect("embedded rules"));
    let detector = Detector::new(rules, DecodeLimits::default());
    let source = Source::File {
        path: "bench".into(),
        line: 1,
        record_index: None,
    };
    let mut group = c.benchmark_group("detect");
    for (name, fraction) in [("keyops_0.1pct", 0.001), ("keyops_3pct", 0.03)] {
        let bodies = corpus::generate(&corpus::CorpusSpec {
            seed: 42,
            bodies: 400,
            key_op_fraction: fraction,
        });
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
