#!/usr/bin/env python3
"""A straightforward Python implementation of Panther's
Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered, as a baseline for `hubwatch replay`.

    python3 bench/python_rule.py CORPUS.jsonl > alerts.jsonl      # one alert per line, dedup off
    python3 bench/python_rule.py --check HUBWATCH_ALERTS.jsonl PYTHON_ALERTS.jsonl  # compare

Input: one Event Hubs body per line ({"records": [...]}, an array of records, or a bare record).
Every record that is a JSON object is evaluated like Panther does (see docs/rules.md):
case-insensitive field lookup (exact key first, else the first key equal ignoring case),
defaults only for missing keys, operationName upper-cased with str.upper and compared for equality, resultType exactly "Success"/"Succeeded". A record on which
the rule raises counts as a rule error and raises no alert.

--check compares the alerts of `hubwatch replay --no-dedup` with this script's on the same
corpus, in order, on title, alert context and correlationId, and exits 1 on any difference
(bench/replay.sh runs it). The detection run prints a summary to stderr.
"""

import json
import sys

RULE_ID = "Azure.MonitorActivity.KeyVault.KeyAccessed.Recovered"
OPERATIONS = {
    "MICROSOFT.KEYVAULT/VAULTS/KEYS/READ/ACTION": "read",
    "MICROSOFT.KEYVAULT/VAULTS/KEYS/RESTORE/ACTION": "restored",
    "MICROSOFT.KEYVAULT/VAULTS/KEYS/RECOVER/ACTION": "recovered",
}
SUCCESS = ("Success", "Succeeded")
_MISSING = object()


class Event:
    """Panther's read-only case-insensitive event dictionary (top level is all the rule reads)."""

    __slots__ = ("d",)

    def __init__(self, d):
        self.d = d

    def get(self, key, default=None):
        d = self.d
        if key in d:
            return d[key]
        low = key.lower()
        found = _MISSING
        for k, v in d.items():
            if k.lower() == low:
                found = v
                break
        return default if found is _MISSING else found


def segment_after(resource_id, marker):
    if not resource_id:
        return ""
    parts = resource_id.split("/")  # raises for a truthy non-string, as in Panther
    marker = marker.lower()
    for i in range(len(parts) - 1):
        if parts[i].lower() == marker:
            return parts[i + 1]
    return ""


def rule(event):
    op = event.get("operationName", "").upper()
    return op in OPERATIONS and event.get("resultType", "") in SUCCESS


def title(event):
    action = OPERATIONS.get(event.get("operationName", "").upper(), "accessed")
    vault = segment_after(event.get("resourceId", ""), "vaults")
    caller = event.get("callerIpAddress", "<UNKNOWN_CALLER>")
    return f"Azure Key Vault key {action} from [{vault}] by [{caller}]"


def alert_context(event):
    resource_id = event.get("resourceId", "<UNKNOWN_RESOURCE_ID>")
    ctx = {
        "resource_id": resource_id,
        "caller_ip": event.get("callerIpAddress", "<UNKNOWN_CALLER_IP>"),
        "operation_name": event.get("operationName", "<UNKNOWN_OPERATION_NAME>"),
        "result_type": event.get("resultType", "<UNKNOWN_RESULT_TYPE>"),
        "correlation_id": event.get("correlationId", "<UNKNOWN_CORRELATION_ID>"),
        "location": event.get("location", "<UNKNOWN_LOCATION>"),
        "tenant_id": event.get("tenantId", "<UNKNOWN_TENANT_ID>"),
    }
    for key, marker in (("storage_account_name", "storageAccounts"), ("resource_group", "resourceGroups")):
        seg = segment_after(resource_id, marker)
        if seg:
            ctx[key] = seg
    props = event.get("properties")
    if props:
        ctx["properties"] = props
    for key, marker in (("keyvault_name", "vaults"), ("key_name", "keys")):
        seg = segment_after(resource_id, marker)
        if seg:
            ctx[key] = seg
    return ctx


def records_of(body):
    """The records of one body, or None when the body is not records."""
    if isinstance(body, dict):
        if "records" in body:
            recs = body["records"]
            return recs if isinstance(recs, list) else None
        return [body]
    if isinstance(body, list):
        return body
    return None


def run(path, out):
    stats = {"bodies": 0, "records": 0, "alerts": 0, "body_errors": 0, "record_errors": 0, "rule_errors": 0}
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, 1):
            if line.endswith(b"\n"):
                line = line[:-1]
            stats["bodies"] += 1
            try:
                body = json.loads(line)
            except ValueError:
                stats["body_errors"] += 1
                continue
            recs = records_of(body)
            if recs is None:
                stats["body_errors"] += 1
                continue
            for index, rec in enumerate(recs):
                stats["records"] += 1
                if not isinstance(rec, dict):
                    stats["record_errors"] += 1
                    continue
                event = Event(rec)
                try:
                    if not rule(event):
                        continue
                    t = title(event)[:1000]
                    ctx = alert_context(event)
                except Exception:  # noqa: BLE001 - Panther records any exception as a rule error
                    stats["rule_errors"] += 1
                    continue
                stats["alerts"] += 1
                alert = {
                    "rule_id": RULE_ID,
                    "title": t,
                    "severity": "MEDIUM",
                    "dedup": t or f"defaultDedupString:{RULE_ID}",
                    "resourceId": event.get("resourceId"),
                    "callerIpAddress": event.get("callerIpAddress"),
                    "correlationId": event.get("correlationId"),
                    "alert_context": ctx,
                    "event": rec,
                    "source": {"kind": "file", "path": path, "line": line_no, "record_index": index},
                }
                out.write(json.dumps(alert))
                out.write("\n")
    return stats


def key(alert):
    return (alert["title"], json.dumps(alert["alert_context"], sort_keys=True), alert.get("correlationId"))


def check(ours_path, theirs_path):
    """Compares our alerts with hubwatch's, in order; returns the number of differences."""
    with open(ours_path) as a, open(theirs_path) as b:
        ours = [key(json.loads(l)) for l in a if l.strip()]
        theirs = [key(json.loads(l)) for l in b if l.strip()]
    diffs = 0
    if len(ours) != len(theirs):
        print(f"check: python raised {len(ours)} alerts, hubwatch {len(theirs)}", file=sys.stderr)
        diffs += 1
    for i, (x, y) in enumerate(zip(ours, theirs)):
        if x != y:
            diffs += 1
            if diffs <= 5:
                print(f"check: alert {i} differs:\n  python:   {x}\n  hubwatch: {y}", file=sys.stderr)
    if diffs == 0:
        print(f"check: OK, {len(ours)} alerts identical (title, alert context, correlationId, order)", file=sys.stderr)
    return diffs


def main(argv):
    if len(argv) >= 3 and argv[0] == "--check":
        # --check HUBWATCH_ALERTS PYTHON_ALERTS: compare two alert files (no detection run).
        return 1 if check(argv[2], argv[1]) else 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.stdout
    stats = run(argv[0], out)
    out.flush()
    print(" ".join(f"{k}={v}" for k, v in stats.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
