#!/usr/bin/env bash
# Backfill throughput from Azurite: generates an archive (bench/backfill_gen.rs: HOURS x VAULTS
# hourly append blobs of LINES AuditEvent records, several appends each), then times
# `hubwatch backfill` over it (stdout sink to /dev/null, default [backfill] parallelism 8 and
# memory_mib 256) and prints its JSON summary (mib_per_sec, records_per_sec). Run by hand.
#
#   bash bench/backfill.sh [OUT_DIR] [HOURS] [VAULTS] [LINES] [REPS]
#
# Defaults: /tmp/hubwatch-backfill-bench, 24 hours, 4 vaults, 10000 lines (about 1 KB each:
# 96 blobs, about 1 GB), 3 runs (each with --restart). Starts its own Azurite (node_modules,
# `npm ci`) unless AZURITE_BLOB_URL is set.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/hubwatch-backfill-bench}
HOURS=${2:-24}
VAULTS=${3:-4}
LINES=${4:-10000}
REPS=${5:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
NICE=${NICE:-nice -n 10}
mkdir -p "$OUT"

(cd "$ROOT" && $NICE cargo build --release --locked --features bench-load --bin hubwatch --example bench-backfill-gen >&2)

if [ -z "${AZURITE_BLOB_URL:-}" ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$OUT" && exec "$ROOT/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
      --inMemoryPersistence --skipApiVersionCheck --loose --silent) >"$OUT/azurite.log" 2>&1 &
  azurite_pid=$!
  trap 'kill "$azurite_pid" 2>/dev/null' EXIT
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.2
  done
  AZURITE_BLOB_URL="http://127.0.0.1:$port/devstoreaccount1"
fi
CONTAINER=insights-logs-auditevent
bytes=$("$CARGO_TARGET_DIR/release/examples/bench-backfill-gen" "$AZURITE_BLOB_URL" "$CONTAINER" "$HOURS" "$VAULTS" "$LINES" 4)
echo "archive: $bytes bytes in $((HOURS * VAULTS)) blobs" >&2

cat > "$OUT/backfill.toml" <<TOML
[service]
state_dir = "$OUT/state"
log_level = "warn"
[http]
listen = ""
[source]
kind = "stdin"
[backfill]
account_url = "$AZURITE_BLOB_URL"
containers = ["$CONTAINER"]
auth = "shared-key"
account_name = "devstoreaccount1"
account_key_env = "BENCH_ACCOUNT_KEY"
[[sinks]]
kind = "stdout"
TOML
export BENCH_ACCOUNT_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for i in $(seq "$REPS"); do
  /usr/bin/time -f "wall %e s, peak RSS %M KB, user %U s, sys %S s" $NICE "$CARGO_TARGET_DIR/release/hubwatch" backfill \
    --config "$OUT/backfill.toml" --from 2026-11-02 --to 2026-11-03 --restart --json-progress \
    > /dev/null 2> "$OUT/run$i.txt" || true
  grep '"summary"' "$OUT/run$i.txt"
  tail -1 "$OUT/run$i.txt"
done
