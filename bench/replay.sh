#!/usr/bin/env bash
# Replay throughput: hubwatch replay --no-dedup vs a plain Python implementation of the same rule
# vs a jq filter, on the same generated corpora, in the same run.
#
#   bash bench/replay.sh [OUT_DIR] [BODIES] [REPS]
#
# Defaults: OUT_DIR=/tmp/hubwatch-bench, BODIES=3000 (about 200 MB per corpus), REPS=3 (the
# median wall time of REPS runs is reported; peak RSS is the largest). Builds the release binary
# with --locked, generates the 0.1% and 3% key-operation corpora (seed 42), checks that the
# Python implementation and jq raise the same alerts as hubwatch (same count, same titles; for
# Python also the same alert context), and prints a markdown table. Run by hand; not used by CI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/hubwatch-bench}
BODIES=${2:-3000}
REPS=${3:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release/hubwatch
GEN=$CARGO_TARGET_DIR/release/examples/gen-corpus
NICE=${NICE:-nice -n 10}
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv
: > "$RESULTS"

(cd "$ROOT" && $NICE cargo build --release --locked -p hubwatch -p hubwatch-eventhubs-emulator --features hubwatch/bench-load --bin hubwatch --bin eventhubs-emulator --example gen-corpus --example bench-load >&2)

# The one rule the baselines implement (hubwatch's default set also has the AuditEvent rule).
ONE_RULE=$OUT/rules-one
mkdir -p "$ONE_RULE"
cp "$ROOT/rules/azure_keyvault_key_accessed_or_recovered.yml" "$ONE_RULE/"

# measure NAME CORPUS_LABEL ALERTS_OUT CMD...: REPS runs under /usr/bin/time; appends to RESULTS.
measure() {
  local name=$1 label=$2 alerts=$3
  shift 3
  local times=() cpus=()
  local rss=0
  for _ in $(seq "$REPS"); do
    /usr/bin/time -f "%e %M %U %S" -o "$OUT/time.txt" $NICE "$@" > "$alerts" 2> "$OUT/stderr.txt"
    read -r wall kb user sys < "$OUT/time.txt"
    times+=("$wall")
    (( kb > rss )) && rss=$kb
    cpus+=("$(python3 -c "print(round($user + $sys, 2))")")
  done
  local median cpu
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cpu=$(printf '%s\n' "${cpus[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$name" "$median" "$rss" "$cpu" "$(printf '%s ' "${times[@]}")" >> "$RESULTS"
  echo "  $name: median ${median}s of [${times[*]}], CPU [${cpus[*]}] s, peak RSS ${rss} KB, load $(cut -d' ' -f1 /proc/loadavg)" >&2
}

for spec in "0.1:0.001" "3:0.03"; do
  label=${spec%%:*}
  frac=${spec##*:}
  corpus=$OUT/corpus-$label.jsonl
  if [[ ! -s $corpus ]]; then
    echo "generating $corpus ($BODIES bodies, key operations $frac)" >&2
    $NICE "$GEN" "$BODIES" "$frac" 42 > "$corpus"
  fi
  bytes=$(stat -c %s "$corpus")
  # Warm the page cache and count records (hubwatch's summary line).
  summary=$("$BIN" replay --no-dedup --rules "$ONE_RULE" "$corpus" 2>&1 >/dev/null | grep -o 'bodies=.*' | tail -1)
  records=$(cut -d' ' -f2 <<< "$summary" | cut -d= -f2)
  echo "corpus $label%: $bytes bytes; $summary" >&2
  printf '#corpus\t%s\t%s\t%s\n' "$label" "$bytes" "$records" >> "$RESULTS"

  measure "hubwatch replay (built-in rules: 2)" "$label" "$OUT/hw-all-$label.jsonl" \
    "$BIN" replay --no-dedup "$corpus"
  measure "hubwatch replay (this rule only)" "$label" "$OUT/hw-$label.jsonl" \
    "$BIN" replay --no-dedup --rules "$ONE_RULE" "$corpus"
  measure "python3 bench/python_rule.py" "$label" "$OUT/py-$label.jsonl" \
    python3 "$ROOT/bench/python_rule.py" "$corpus"
  measure "jq -cR -f bench/jq_filter.jq" "$label" "$OUT/jq-$label.jsonl" \
    jq -cR -f "$ROOT/bench/jq_filter.jq" "$corpus"

  # Agreement: Python must match hubwatch alert for alert; jq on count and titles.
  python3 "$ROOT/bench/python_rule.py" --check "$OUT/hw-$label.jsonl" "$OUT/py-$label.jsonl"
  cmp -s <(jq -r .title "$OUT/hw-$label.jsonl") <(jq -r .title "$OUT/jq-$label.jsonl") \
    && echo "check: jq OK, $(wc -l < "$OUT/jq-$label.jsonl") alerts with the same titles" >&2 \
    || { echo "check: jq DIFFERS from hubwatch" >&2; exit 1; }
  cmp -s <(jq -r .title "$OUT/hw-$label.jsonl") <(jq -r .title "$OUT/hw-all-$label.jsonl") \
    || { echo "check: the full rule set raised other alerts" >&2; exit 1; }
done

python3 - "$RESULTS" <<'EOF'
import sys
rows, corpora = [], {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "#corpus":
        corpora[f[1]] = (int(f[2]), int(f[3]))
    else:
        rows.append(f)
print("| corpus | implementation | wall (median) | records/s (wall) | MB/s (wall) | CPU s (user+sys, median) | MB/s per CPU-second | peak RSS | this / hubwatch (this rule), wall | same, CPU |")
print("|---|---|---|---|---|---|---|---|---|---|")
best, bestcpu = {}, {}
for label, name, wall, rss, cpu, _ in rows:
    if name.startswith("hubwatch replay (this"):
        best[label], bestcpu[label] = float(wall), float(cpu)
for label, name, wall, rss, cpu, _ in rows:
    size, records = corpora[label]
    w, c = float(wall), float(cpu)
    print(f"| {label}% key ops, {size/1e6:.0f} MB, {records:,} records | `{name}` | {w:.2f} s | {records/w:,.0f} | {size/1e6/w:,.0f} | {c:.2f} | {size/1e6/c:,.0f} | {int(rss)/1024:.1f} MB | {w/best[label]:.1f}x | {c/bestcpu[label]:.1f}x |")
EOF
