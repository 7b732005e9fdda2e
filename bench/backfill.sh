#!/usr/bin/env bash
# Backfill throughput from Azurite: generates an archive (bench/backfill_gen.rs: HOURS x VAULTS
# hourly append blobs of LINES AuditEvent records, several appends each), then times
# `hubwatch backfill` over it (stdout sink to /dev/null, default [backfill] parallelism 8 and
# memory_mib 256) and prints its JSON summary (mib_per_sec, records_per_sec); then, as the
# download ceiling, the time `curl` takes to fetch the same blobs 8 at a time (read-only SAS),
# one curl run after each backfill run;
# last, as the detection ceiling, `hubwatch replay -j 1` over the same bytes from a local file.
# Run by hand.
#
#   bash bench/backfill.sh [OUT_DIR] [HOURS] [VAULTS] [LINES] [REPS]
#
# Defaults: /tmp/hubwatch-backfill-bench, 24 hours, 4 vaults, 10000 lines (about 1 KB each:
# 96 blobs, about 1 GB), 3 runs (each with --restart). When it starts Azurite itself it also
# prints the CPU seconds Azurite spent serving each run: Azurite shares the machine's cores.
# PIN=1 (with the script's own Azurite, on a machine of 2 or more CPUs) gives Azurite CPU 0 and
# the client (hubwatch, or curl) CPU 1, so the two do not compete: then the curl figure is the
# download ceiling one server core gives, and hubwatch's idle share of its core shows whether it
# waits for the download or for its own work. PARALLELISM and MEMORY_MIB (environment)
# set [backfill] parallelism and memory_mib. Starts its own Azurite (node_modules, `npm ci`)
# unless AZURITE_BLOB_URL is set.
# RATE=1gbit (a tc rate) runs the whole script in a network namespace of its own whose loopback
# is shaped to that rate (token bucket, both directions): a download bounded by the network, as
# from a storage account, where the backfill should keep pace with curl (the script's own Azurite
# only: the namespace has no other network; needs `unshare -rn` and tc, from iproute2).
set -euo pipefail

if [ -n "${RATE:-}" ] && [ -z "${BENCH_NETNS:-}" ]; then
  exec unshare -rn env BENCH_NETNS=1 bash -c \
    'ip link set lo up && tc qdisc add dev lo root tbf rate "$RATE" burst 1mb latency 50ms &&
     echo "loopback shaped to $RATE" >&2 && exec bash "$0" "$@"' "$0" "$@"
fi

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
  AZURITE_PID=$azurite_pid
  trap 'kill "$azurite_pid" 2>/dev/null; wait "$azurite_pid" 2>/dev/null' EXIT
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
parallelism = ${PARALLELISM:-8}
memory_mib = ${MEMORY_MIB:-256}
[[sinks]]
kind = "stdout"
TOML
export BENCH_ACCOUNT_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
CLIENT=()
if [ "${PIN:-0}" = 1 ] && [ -n "${AZURITE_PID:-}" ]; then
  taskset -a -p -c 0 "$AZURITE_PID" >/dev/null
  CLIENT=(taskset -c 1)
  echo "pinned: azurite on CPU 0, the client on CPU 1" >&2
fi
# CPU seconds (user + system) Azurite has used so far, when this script started it.
azurite_cpu() {
  if [ -n "${AZURITE_PID:-}" ]; then
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$AZURITE_PID/stat"
  else
    echo 0
  fi
}
azurite_spent() {
  [ -n "${AZURITE_PID:-}" ] && python3 -c "import sys; print(f'azurite CPU {float(sys.argv[2]) - float(sys.argv[1]):.2f} s')" "$1" "$(azurite_cpu)"
  return 0
}
# The download ceiling: the same blobs fetched whole by curl, 8 at a time, with a read-only SAS.
# Each run of the backfill is followed by one of curl, so both see the same Azurite (whose
# speed drifts as it runs).
sas=$(python3 - <<'PY'
import base64, hashlib, hmac, urllib.parse
key = base64.b64decode("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
sv, ss, srt, sp, se, spr = "2021-12-02", "b", "sco", "rl", "2099-01-01T00:00:00Z", "https,http"
to_sign = f"devstoreaccount1\n{sp}\n{ss}\n{srt}\n\n{se}\n\n{spr}\n{sv}\n\n"
sig = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
print(urllib.parse.urlencode({"sv": sv, "ss": ss, "srt": srt, "sp": sp, "se": se, "spr": spr, "sig": sig}))
PY
)
for i in $(seq "$REPS"); do
  a=$(azurite_cpu)
  /usr/bin/time -f "wall %e s, peak RSS %M KB, user %U s, sys %S s" $NICE "${CLIENT[@]}" "$CARGO_TARGET_DIR/release/hubwatch" backfill \
    --config "$OUT/backfill.toml" --from 2026-11-02 --to 2026-11-03 --restart --json-progress \
    > /dev/null 2> "$OUT/run$i.txt" || true
  grep '"summary"' "$OUT/run$i.txt"
  tail -1 "$OUT/run$i.txt"
  azurite_spent "$a"
  if [ "$i" = 1 ]; then
    python3 - "$OUT"/state/backfill/cursor-*.json "$AZURITE_BLOB_URL" "$sas" > "$OUT/urls.txt" <<'PY'
import json, sys, urllib.parse
cursor, base, sas = sys.argv[1], sys.argv[2], sys.argv[3]
for key in json.load(open(cursor))["blobs"]:
    container, _, name = key.partition("/")
    print(f"{base}/{container}/{urllib.parse.quote(name)}?{sas}")
PY
  fi
  a=$(azurite_cpu)
  start=$(date +%s.%N)
  got=$("${CLIENT[@]}" xargs -P 8 -n 1 curl -sf -o /dev/null -w "%{size_download}\n" < "$OUT/urls.txt" | awk '{s += $1} END {print s}')
  end=$(date +%s.%N)
  python3 -c "import sys; b, t = int(sys.argv[1]), float(sys.argv[3]) - float(sys.argv[2]); print(f'curl x8: {b} bytes in {t:.2f} s, {b / t / 1048576:.1f} MiB/s')" "$got" "$start" "$end"
  azurite_spent "$a"
done

# Detection at replay speed? The same bytes from a local file: the blobs concatenated, then
# `hubwatch replay -j 1` (the default rules, as the backfill runs them) on the client's CPU.
xargs -n 1 curl -sf < "$OUT/urls.txt" > "$OUT/archive.jsonl"
echo "replay of the same $(stat -c %s "$OUT/archive.jsonl") bytes, -j 1 --no-dedup:" >&2
for i in $(seq "$REPS"); do
  /usr/bin/time -f "replay: wall %e s, peak RSS %M KB, user %U s, sys %S s" $NICE "${CLIENT[@]}" \
    "$CARGO_TARGET_DIR/release/hubwatch" replay -j 1 --no-dedup "$OUT/archive.jsonl" 2>&1 >/dev/null | tail -1
done
rm -f "$OUT/archive.jsonl"
