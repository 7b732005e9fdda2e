#!/usr/bin/env bash
# `hubwatch run` with the file source (the whole service: pipeline, file sink, file checkpoints,
# dead letters) on the replay corpora, on both cores and pinned to one (taskset -c 0).
#
#   bash bench/run_file.sh [OUT_DIR] [REPS]
#
# Needs the corpora and the release build of bench/replay.sh. The file source reads each line
# once and exits at the end of the file; wall time, CPU time and peak RSS come from /usr/bin/time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/hubwatch-bench}
REPS=${2:-3}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/hubwatch
NICE=${NICE:-nice -n 10}
for label in 0.1 3; do
  corpus=$OUT/corpus-$label.jsonl
  bytes=$(stat -c %s "$corpus")
  for cpus in "0,1" "0"; do
    for rep in $(seq "$REPS"); do
      dir=$OUT/run-file-$label
      rm -rf "$dir"; mkdir -p "$dir"
      cat > "$dir/hubwatch.toml" <<TOML
[service]
state_dir = "$dir/state"
log_level = "warn"
[http]
listen = ""
[source]
kind = "file"
path = ["$corpus"]
[checkpoint]
kind = "file"
[rules]
dedup = false
[[sinks]]
kind = "file"
path = "$dir/alerts.jsonl"
TOML
      /usr/bin/time -f "%e %M %U %S" -o "$dir/time.txt" $NICE taskset -c "$cpus" "$BIN" run --config "$dir/hubwatch.toml" 2> "$dir/log"
      read -r wall kb user sys < "$dir/time.txt"
      echo "RESULT run-file corpus=$label% cpus=$cpus rep=$rep wall=${wall}s cpu=$(python3 -c "print(round($user+$sys,2))")s MB_per_s=$(python3 -c "print(round($bytes/1e6/$wall))") peak_rss=${kb}KB alerts=$(wc -l < "$dir/alerts.jsonl") load=$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
