#!/usr/bin/env bash
# End to end through AMQP: `hubwatch run` against the local Event Hubs emulator.
#
#   bash bench/e2e.sh [OUT_DIR]
#
# 1. catch-up: 4 partitions preloaded with >= 200,000 records of realistic bodies (the 0.1%
#    corpus of bench/replay.sh), hubwatch from `earliest` to a file sink with file checkpoints;
#    then a steady offered load of 5,000 records/s for 45 s (3% corpus, so that enough alerts
#    are raised to measure their latency) with a webhook sink whose receiver timestamps arrivals.
# 2. the same catch-up with hubwatch pinned to one core (taskset -c 0).
# 3. the ramp of the default (balanced) load balancing on a fresh single replica.
# 4. resident memory after the backlog is consumed at 4, 32 and 128 partitions (prefetch 300).
# Needs the corpora of bench/replay.sh in OUT_DIR (it generates them when missing).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/hubwatch-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
NICE=${NICE:-nice -n 10}
(cd "$ROOT" && $NICE cargo build --release --locked -p hubwatch -p hubwatch-eventhubs-emulator --features hubwatch/bench-load --bin hubwatch --bin eventhubs-emulator --example gen-corpus --example bench-load >&2)
GEN=$CARGO_TARGET_DIR/release/examples/gen-corpus
mkdir -p "$OUT"
[[ -s $OUT/corpus-0.1.jsonl ]] || $NICE "$GEN" 3000 0.001 42 > "$OUT/corpus-0.1.jsonl"
[[ -s $OUT/corpus-3.jsonl ]] || $NICE "$GEN" 3000 0.03 42 > "$OUT/corpus-3.jsonl"
D="python3 $ROOT/bench/e2e_driver.py"
echo "== catch-up and steady load, both cores"
$NICE $D catchup --partitions 4 --records 200000 --corpus "$OUT/corpus-0.1.jsonl" \
  --steady-corpus "$OUT/corpus-3.jsonl" --rate 5000 --seconds 45 --workdir "$OUT/e2e-catchup"
echo "== catch-up, hubwatch on one core (taskset -c 0)"
$NICE $D catchup --partitions 4 --records 200000 --corpus "$OUT/corpus-0.1.jsonl" \
  --taskset 0 --workdir "$OUT/e2e-taskset"
echo "== catch-up with hubwatch's default load balancing (balanced: one claim per 10 s update interval)"
$NICE $D catchup --partitions 4 --records 20000 --corpus "$OUT/corpus-0.1.jsonl" \
  --load-balancing balanced --workdir "$OUT/e2e-balanced"
for p in 4 32 128; do
  echo "== memory, $p partitions"
  $NICE $D memory --partitions "$p" --records 200000 --corpus "$OUT/corpus-0.1.jsonl" \
    --settle 10 --workdir "$OUT/e2e-mem-$p"
done
