#!/usr/bin/env bash
# Regenerates the golden outputs of Panther's own engine (panther_core) for the Azure Activity
# rules, which crates/hubwatch-detect/tests/panther_differential.rs compares the ports with.
#
#   scripts/panther-golden.sh PANTHER_ANALYSIS_CHECKOUT
#
# The checkout (panther-analysis: rules/azure_activity_rules, global_helpers) is read only and
# nothing of it is written here: only generated records and panther_core's outputs for them,
# under crates/hubwatch-detect/tests/data/. Needs python3 with panther-analysis-tool
# (tests/python/requirements.txt).
set -euo pipefail
checkout=${1:?usage: scripts/panther-golden.sh PANTHER_ANALYSIS_CHECKOUT}
checkout=$(cd "$checkout" && pwd)
cd "$(dirname "$0")/.."
rules="$checkout/rules/azure_activity_rules"
[ -d "$rules" ] && [ -d "$checkout/global_helpers" ] || {
  echo "no rules/azure_activity_rules and global_helpers under $checkout" >&2; exit 2; }
python3 -c 'import panther_core' 2>/dev/null || {
  echo "panther_core is missing: python3 -m pip install -r tests/python/requirements.txt" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tests/python/gen_activity_records.py --out "$tmp/records.jsonl" --marks "$tmp/marks.json"
python3 tests/python/panther_oracle.py "$rules" "$tmp/records.jsonl" \
  --helpers "$checkout/global_helpers" >"$tmp/outputs.jsonl"
python3 tests/python/pack_golden.py --rules "$rules" --records "$tmp/records.jsonl" \
  --marks "$tmp/marks.json" --outputs "$tmp/outputs.jsonl" \
  --out-dir crates/hubwatch-detect/tests/data
ls -l crates/hubwatch-detect/tests/data/
