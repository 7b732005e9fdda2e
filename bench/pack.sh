#!/usr/bin/env bash
# Replay cost of the rule selection: the seed rule alone, the default Key Vault selection, and
# every built-in rule, on the bench corpus (gen-corpus 3000 0.001 42). CPU seconds are the
# figure to compare (one job, `-j 1`, so they are not mixed with the threads' hand-over): wall
# time on a shared 2-core machine moves with its load. A last pair of runs gives the wall time
# of every built-in rule with one job and with one per CPU.
#
#   bash bench/pack.sh [RUNS]      (after cargo build --release --locked --bin hubwatch --example gen-corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/examples/gen-corpus 3000 0.001 42 >"$work/corpus.jsonl"
mkdir "$work/seed"
cp rules/azure_keyvault_key_accessed_or_recovered.yml "$work/seed/"
echo "corpus: $(wc -c <"$work/corpus.jsonl") bytes; $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$runs"); do
  for sel in seed default all; do
    case $sel in
      seed) args=(--rules "$work/seed") ;;
      default) args=() ;;
      all) args=(--builtin '*') ;;
    esac
    /usr/bin/time -f "run $r $sel: wall %e s, user %U s, sys %S s, max RSS %M KB" \
      target/release/hubwatch replay -j 1 --no-dedup "${args[@]}" "$work/corpus.jsonl" 2>&1 >/dev/null
  done
done
for jobs in 1 "$(nproc)"; do
  /usr/bin/time -f "all, $jobs job(s): wall %e s, user %U s, sys %S s, max RSS %M KB" \
    target/release/hubwatch replay -j "$jobs" --no-dedup --builtin '*' "$work/corpus.jsonl" 2>&1 >/dev/null
done
