#!/usr/bin/env bash
# Soak test (by hand, not in CI): hubwatch for DURATION seconds (default 3600) at steady load
# against the local Event Hubs-compatible server, with a flaky webhook (5% of requests answer
# 503), recording RSS, open file descriptors and consumer lag every INTERVAL seconds (default
# 60) to a CSV, then checking that RSS stayed flat (the mean of the last quarter of samples is
# within 10% of the mean of the second quarter), descriptors did not grow, and, after the
# producer stops and hubwatch drains, that every alert the accepted bodies carry reached the
# webhook (by correlationId).
#
#   bash bench/soak.sh [DURATION_SECS] [OUT_DIR]
#   INTERVAL=60 RATE=20 PARTITIONS=4 nice -n 15 bash bench/soak.sh 3600 /tmp/soak
#   PROFILE=debug bash bench/soak.sh 600     # the debug build (no release build needed)
#
# Needs python3 (the flaky webhook is a small http.server) and curl. Only loopback is used.
set -euo pipefail

DURATION="${1:-3600}"
OUT="${2:-$(mktemp -d /tmp/hubwatch-soak.XXXXXX)}"
INTERVAL="${INTERVAL:-60}"
RATE="${RATE:-20}"              # bodies per second sent by the producer
PARTITIONS="${PARTITIONS:-4}"
ERROR_RATE="${ERROR_RATE:-0.05}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$OUT"
echo "soak: ${DURATION}s, sample every ${INTERVAL}s, ${RATE} bodies/s, output in $OUT"

PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  (cd "$ROOT" && cargo build --release --locked -p hubwatch -p hubwatch-eventhubs-emulator --bin hubwatch --bin eventhubs-emulator --example soak-producer)
else
  (cd "$ROOT" && cargo build --locked -p hubwatch -p hubwatch-eventhubs-emulator --bin hubwatch --bin eventhubs-emulator --example soak-producer)
fi
# Private copies: a rebuild during the run cannot replace them, and a cleanup that matches
# the usual binary names elsewhere on a shared machine leaves them alone.
cp "$TARGET/$PROFILE/hubwatch" "$OUT/soak-hubwatch"
cp "$TARGET/$PROFILE/eventhubs-emulator" "$OUT/soak-emulator"
cp "$TARGET/$PROFILE/examples/soak-producer" "$OUT/soak-producer"
HUBWATCH="$OUT/soak-hubwatch"
EMULATOR="$OUT/soak-emulator"
PRODUCER="$OUT/soak-producer"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EH_PORT="$(free_port)"; HOOK_PORT="$(free_port)"; HTTP_PORT="$(free_port)"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

"$EMULATOR" --listen "127.0.0.1:$EH_PORT" --hub activity --partitions "$PARTITIONS" \
  > "$OUT/emulator.log" 2>&1 &
EMU=$!
PIDS+=($EMU)

# The flaky webhook: 5% of requests get 503; counts accepted alerts by alert_id.
cat > "$OUT/webhook.py" <<'PY'
import http.server, json, os, random, sys, threading
port, error_rate, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
stats = {"requests": 0, "errors": 0, "alerts": 0, "ids": set(), "correlation_ids": set()}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with lock:
            stats["requests"] += 1
            if random.random() < error_rate:
                stats["errors"] += 1
                self.send_response(503); self.end_headers(); return
            for a in json.loads(body):
                stats["alerts"] += 1
                stats["ids"].add(a["alert_id"])
                stats["correlation_ids"].add(a["correlationId"])
            with open(out + ".tmp", "w") as f:
                json.dump({k: (len(v) if isinstance(v, set) else v) for k, v in stats.items()}, f)
            os.replace(out + ".tmp", out)
        self.send_response(200); self.end_headers()
    def do_GET(self):  # the correlationIds of every accepted alert, for the final check
        with lock:
            body = json.dumps(sorted(stats["correlation_ids"])).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
python3 "$OUT/webhook.py" "$HOOK_PORT" "$ERROR_RATE" "$OUT/webhook-stats.json" &
PIDS+=($!)

# The producer: RATE bodies a second, round-robin over partitions; 1 record in 10 matches.
sleep 1
"$PRODUCER" "127.0.0.1:$EH_PORT" activity "$RATE" "$PARTITIONS" "$OUT/producer-sent" > "$OUT/producer.log" 2>&1 &
PROD=$!
PIDS+=($PROD)

cat > "$OUT/hubwatch.toml" <<TOML
[service]
state_dir = "$OUT/state"
log_format = "json"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[source]
kind = "eventhubs"
eventhub = "activity"
credential = "connection-string"
connection_string_env = "SOAK_CONNECTION_STRING"
custom_endpoint = "amqp://127.0.0.1:$EH_PORT"
start_position = "earliest"
[checkpoint]
kind = "file"
[rules]
dedup = false
[[sinks]]
kind = "webhook"
url = "http://127.0.0.1:$HOOK_PORT/alerts"
batch = true
TOML
SOAK_CONNECTION_STRING="Endpoint=sb://soak.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=dGVzdA==;EntityPath=activity" \
RUST_LOG="info,azure_messaging_eventhubs=warn,azure_core_amqp=warn,fe2o3_amqp=warn" \
  "$HUBWATCH" run --config "$OUT/hubwatch.toml" > /dev/null 2> "$OUT/hubwatch.log" &
HW=$!
PIDS+=($HW)

CSV="$OUT/soak.csv"
echo "elapsed_s,rss_kib,fds,lag_events,alerts_sent,webhook_requests,webhook_errors" > "$CSV"
START=$(date +%s)
while :; do
  sleep "$INTERVAL"
  NOW=$(( $(date +%s) - START ))
  kill -0 "$HW" 2>/dev/null || { echo "hubwatch exited early; see $OUT/hubwatch.log"; exit 1; }
  kill -0 "$EMU" 2>/dev/null || { echo "the server exited early; see $OUT/emulator.log"; exit 1; }
  kill -0 "$PROD" 2>/dev/null || { echo "the producer exited early; see $OUT/producer.log"; exit 1; }
  RSS=$(awk '/^VmRSS:/ {print $2}' "/proc/$HW/status")
  FDS=$(ls "/proc/$HW/fd" | wc -l)
  METRICS=$(curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null || true)
  LAG=$(printf '%s\n' "$METRICS" | awk '/^hubwatch_partition_lag_events/ {s += $2} END {print s + 0}')
  SENT=$(printf '%s\n' "$METRICS" | awk '/^hubwatch_sink_sent_total/ {s += $2} END {print s + 0}')
  REQ=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["errors"])' "$OUT/webhook-stats.json" 2>/dev/null || echo "0 0")
  echo "$NOW,$RSS,$FDS,$LAG,$SENT,${REQ% *},${REQ#* }" | tee -a "$CSV"
  [ "$NOW" -ge "$DURATION" ] && break
done

# Stop the load, let hubwatch drain, then check every alert the accepted bodies carry arrived.
kill "$PROD" 2>/dev/null || true
wait "$PROD" 2>/dev/null || true
SENT_BODIES=$(cat "$OUT/producer-sent" 2>/dev/null || echo 0)
DRAIN_START=$(date +%s)
MISSING=""
while :; do
  sleep 5
  curl -fsS "http://127.0.0.1:$HOOK_PORT/ids" > "$OUT/webhook-ids.json" 2>/dev/null || true
  MISSING=$(python3 - "$SENT_BODIES" "$OUT/webhook-ids.json" <<'PY'
import json, sys
n = int(sys.argv[1])
try:
    got = set(json.load(open(sys.argv[2])))
except (OSError, ValueError):
    got = set()
# The producer's body k carries an alert in record 0 when k is even (see soak-producer.rs).
want = {f"soak-{k}-0" for k in range(0, n, 2)}
print(len(want - got))
PY
)
  [ "$MISSING" = 0 ] && break
  [ $(( $(date +%s) - DRAIN_START )) -ge 300 ] && break
done
echo "bodies accepted by the server: $SENT_BODIES; alerts missing at the webhook after draining: $MISSING"

python3 - "$CSV" "$MISSING" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rss = [int(r["rss_kib"]) for r in rows]
fds = [int(r["fds"]) for r in rows]
lag = [float(r["lag_events"]) for r in rows]
n = len(rss)
if n < 4:
    print(f"only {n} samples; need at least 4 to compare quarters"); sys.exit(1)
q = n // 4
second = rss[q:2 * q]
last = rss[n - q:]
m2, m4 = sum(second) / len(second), sum(last) / len(last)
drift = (m4 - m2) / m2 * 100
print(f"samples {n}; RSS second quarter mean {m2:.0f} KiB, last quarter mean {m4:.0f} KiB ({drift:+.1f}%)")
print(f"RSS min {min(rss)} max {max(rss)} KiB; fds min {min(fds)} max {max(fds)}; lag max {max(lag):.0f} events, last {lag[-1]:.0f}")
missing = int(sys.argv[2] or 1)
ok = abs(drift) <= 10 and fds[-1] <= max(fds[:max(1, n // 2)]) + 5 and missing == 0
print("PASS: RSS flat, descriptors stable, no alert lost" if ok else "FAIL: RSS drifted, descriptors grew or alerts are missing")
sys.exit(0 if ok else 1)
PY
