"""Packs panther_core's outputs for the generated records into the golden files the Rust test
`crates/hubwatch-detect/tests/panther_differential.rs` reads (run by scripts/panther-golden.sh).

    python3 tests/python/pack_golden.py --rules DIR --records R.jsonl --marks M.json
        --outputs O.jsonl --out-dir crates/hubwatch-detect/tests/data

Writes, gzipped with a zero timestamp (the same inputs give the same bytes):
- activity_records.jsonl.gz: the records, byte for byte as generated;
- panther_golden.jsonl.gz: one header line, then panther_oracle.py's output lines.
The header names the engine's versions, the records' SHA-256, the marked records (see KNOWN in
gen_activity_records.py) and, per rule, the facts a port must carry (from the rule's YAML:
identity, severity, grouping); no rule code, description or test log is kept.
"""

import argparse
import gzip
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata

import yaml


def rule_facts(rules_dir):
    facts = []
    for name in sorted(os.listdir(rules_dir)):
        if not name.endswith((".yml", ".yaml")):
            continue
        with open(os.path.join(rules_dir, name), encoding="utf-8") as f:
            spec = yaml.safe_load(f)
        if not isinstance(spec, dict) or spec.get("AnalysisType") != "rule":
            continue
        facts.append({
            "rule_id": spec["RuleID"],
            "filename": spec["Filename"],
            "display_name": spec.get("DisplayName", ""),
            "enabled": bool(spec.get("Enabled", True)),
            "severity": str(spec.get("Severity", "Info")).upper(),
            "create_alert": bool(spec.get("CreateAlert", True)),
            "dedup_period_minutes": spec.get("DedupPeriodMinutes"),
            "threshold": spec.get("Threshold"),
        })
    return facts


def checkout_commit(rules_dir):
    try:
        out = subprocess.run(["git", "-C", rules_dir, "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def write_gz(path, data):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(data)


def main():
    ap = argparse.ArgumentParser()
    for a in ["--rules", "--records", "--marks", "--outputs", "--out-dir"]:
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    with open(args.records, "rb") as f:
        records = f.read()
    with open(args.marks, encoding="utf-8") as f:
        marks = json.load(f)
    with open(args.outputs, "rb") as f:
        outputs = f.read()
    header = {
        "format": 1,
        "generated_by": "scripts/panther-golden.sh (tests/python/gen_activity_records.py, panther_oracle.py)",
        "python": platform.python_version(),
        "panther_core": metadata.version("panther-core"),
        "panther_analysis_commit": checkout_commit(args.rules),
        "records": records.count(b"\n"),
        "records_sha256": hashlib.sha256(records).hexdigest(),
        "known": {k: {"about": about, "records": marks["records"].get(k, [])}
                  for k, about in marks["known"].items()},
        "rules": rule_facts(args.rules),
    }
    os.makedirs(args.out_dir, exist_ok=True)
    write_gz(os.path.join(args.out_dir, "activity_records.jsonl.gz"), records)
    golden = json.dumps(header).encode() + b"\n" + outputs
    write_gz(os.path.join(args.out_dir, "panther_golden.jsonl.gz"), golden)
    lines = [json.loads(l) for l in outputs.splitlines()]
    errors = sum("error" in l for l in lines)
    print(f"{header['records']} records, {len(header['rules'])} rules, "
          f"{len(lines) - errors} alerts and {errors} rule errors from panther_core "
          f"{header['panther_core']} (Python {header['python']})")


if __name__ == "__main__":
    main()
