"""Runs Panther's own engine (panther_core, from panther-analysis-tool) over records.

    python3 tests/python/panther_oracle.py RULES_DIR RECORDS.jsonl [--helpers DIR] [--only ID,ID]

RULES_DIR holds Panther rule files (`*.yml` beside `*.py`, as in panther-analysis's
`rules/azure_activity_rules`); `--helpers` is the directory of global helpers the rules import
(panther-analysis's `global_helpers`). Each record line goes through
`Rule.run(PantherEvent(record, None), {}, {}, batch_mode=True)`, Panther's log-analysis path.

For every (record, rule) that triggers it prints one JSON line
`{"i", "rule", "title", "dedup", "severity", "alert_context"}`; for one whose `rule()` raised,
`{"i", "rule", "error"}` -- the same format as hubwatch's `rule-check` example, so the two
outputs can be compared line by line.
"""

import argparse
import json
import os
import sys

import yaml  # PyYAML comes with panther-analysis-tool's dependencies via dynaconf/ruamel
from panther_core.enriched_event import PantherEvent
from panther_core.rule import Rule


def load_rules(rules_dir, only):
    rules = []
    for name in sorted(os.listdir(rules_dir)):
        if not name.endswith((".yml", ".yaml")):
            continue
        with open(os.path.join(rules_dir, name), encoding="utf-8") as f:
            spec = yaml.safe_load(f)
        if not isinstance(spec, dict) or spec.get("AnalysisType") != "rule":
            continue
        if only and spec["RuleID"] not in only:
            continue
        py = os.path.join(rules_dir, spec["Filename"])
        rule = Rule(
            {
                "id": spec["RuleID"],
                "path": py,
                "versionId": "0",
                "severity": str(spec.get("Severity", "INFO")).upper(),
                "dedupPeriodMinutes": spec.get("DedupPeriodMinutes", 60),
            }
        )
        if rule.setup_exception:
            raise SystemExit(f"{py}: {rule.setup_exception!r}")
        rules.append((spec, rule))
    return rules


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rules_dir")
    ap.add_argument("records")
    ap.add_argument("--helpers")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    if args.helpers:
        sys.path.insert(0, os.path.abspath(args.helpers))
    only = {x for x in args.only.split(",") if x}
    rules = load_rules(args.rules_dir, only)
    out = sys.stdout
    with open(args.records, encoding="utf-8") as f:
        for i, line in enumerate(f):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            for spec, rule in rules:
                res = rule.run(PantherEvent(record, None), {}, {}, batch_mode=True)
                if res.detection_exception is not None:
                    line_out = {"i": i, "rule": spec["RuleID"], "error": repr(res.detection_exception)}
                elif not res.trigger_alert:
                    continue
                else:
                    ctx = res.alert_context_output
                    line_out = {
                        "i": i,
                        "rule": spec["RuleID"],
                        # Panther's alert falls back to the display name (then the id) when
                        # the rule has no title() or it returns "".
                        "title": res.title_output or spec.get("DisplayName") or spec["RuleID"],
                        "dedup": res.dedup_output,
                        "severity": res.severity_output or str(spec.get("Severity")).upper(),
                        "alert_context": json.loads(ctx) if ctx is not None else {},
                    }
                out.write(json.dumps(line_out) + "\n")


if __name__ == "__main__":
    main()
