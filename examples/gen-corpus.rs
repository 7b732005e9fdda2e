//! Writes a benchmark corpus of Activity Log bodies, one per line, to stdout.
//!
//! `cargo run --release --example gen-corpus -- BODIES KEY_OP_FRACTION [SEED] > corpus.jsonl`

#[path = "../bench/criterion/corpus.rs"]
mod corpus;

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bodies = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let key_op_fraction = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(0.01);
    let seed = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(42);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for body in corpus::generate(&corpus::CorpusSpec {
        seed,
        bodies,
        key_op_fraction,
    }) {
        out.write_all(body.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
