"""Azure Activity Log records for the differential test of hubwatch's Azure Activity rule ports.

    python3 tests/python/gen_activity_records.py --out RECORDS.jsonl [--marks MARKS.json]
        [--seed N] [--mutations N]

Deterministic for a seed. Every record is built here from templates of our own, modelled on
Microsoft's published schemas (no upstream test log is copied):

  [AL]  Activity log event schema, the form diagnostic settings stream to Event Hubs
        (Administrative, Policy and Recommendation categories; `properties.requestbody` is a
        JSON string): learn.microsoft.com/azure/azure-monitor/essentials/activity-log-schema
  [ED]  EventData, the REST and portal form (operationName and status as {value,
        localizedValue}): learn.microsoft.com/rest/api/monitor/activity-logs/list
  [SL]  Azure Storage resource logs (StorageRead/StorageWrite/StorageDelete):
        learn.microsoft.com/azure/storage/blobs/monitor-blob-storage-reference
  [OPS] Operation names: learn.microsoft.com/azure/role-based-access-control/resource-provider-operations
  [RID] Resource ids /subscriptions/{id}/resourceGroups/{rg}/providers/{ns}/{type}/{name}:
        learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-resource
  [ROLE] Built-in role ids: learn.microsoft.com/azure/role-based-access-control/built-in-roles
  [SAS] SAS query parameters (sp, se, sig): learn.microsoft.com/rest/api/storageservices/create-service-sas
  [ARM] Storage account, blob service and container request bodies:
        learn.microsoft.com/rest/api/storagerp/storage-accounts/create

Each operation is varied in its spelling (casings, and characters such as the long s that
Python's str.upper maps to ASCII), resultType, resourceId form, caller address, properties
shape and key casing; mutate_records.py then adds odd variants. Marks (`--marks`) name the
records that hold a difference tracked centrally (see KNOWN), so the test reports them apart.
"""

import argparse
import json
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import activity_templates as T  # noqa: E402
from mutate_records import mutate  # noqa: E402

# Differences between panther_core and hubwatch that are tracked centrally: records holding
# them are marked so that the test reports their differences apart instead of failing.
KNOWN = {
    "json_nonstandard": "a JSON string holding NaN, Infinity, 1e999 or a lone surrogate: "
    "Python's json.loads accepts it, serde_json does not",
}


class Raw:
    """A record given as JSON text (duplicate keys, -0: what json.dumps cannot write)."""

    def __init__(self, text):
        self.text = text


# ---------- marks ----------


class _Int(str):
    """An integer token as written, so that -0 and out-of-range values can be told."""


def _loads(s):
    return json.loads(s, object_pairs_hook=lambda p: ("obj", p), parse_int=_Int)


def _strict(s):
    """Whether serde_json would accept what Python's json.loads accepted."""

    def bad(_):
        raise ValueError("NaN or Infinity")

    def flt(x):
        if math.isinf(float(x)):
            raise ValueError("out of range")
        return float(x)

    try:
        v = json.loads(s, parse_constant=bad, parse_float=flt)
        json.dumps(v, ensure_ascii=False).encode("utf-8")  # lone surrogates raise
    except (ValueError, UnicodeEncodeError):
        return False
    depth = best = 0
    for c in s:  # nesting (hubwatch parses up to 900); brackets in strings only overcount
        depth += (c in "[{") - (c in "]}")
        best = max(best, depth)
    return best <= 900


def marks_of(text):
    found = {"del_char"} if "\x7f" in text or "\\u007f" in text else set()
    _walk(_loads(text), found, 0)
    return found & KNOWN.keys()


def _walk(v, found, depth):
    if isinstance(v, _Int):
        if v == "-0":
            found.add("neg_zero")
        elif not -(2**63) <= int(v) < 2**64:
            found.add("big_ints")
    elif isinstance(v, tuple):
        for _, x in v[1]:
            _walk(x, found, depth)
    elif isinstance(v, list):
        for x in v:
            _walk(x, found, depth)
    elif isinstance(v, str) and depth < 3 and v.strip()[:1] in tuple("[{-0123456789NI"):
        try:
            inner = _loads(v)
        except (ValueError, RecursionError):
            return
        if not _strict(v):
            found.add("json_nonstandard")
        _walk(inner, found, depth + 1)


# ---------- variants ----------


def op_spellings(op, rng):
    """operationName spellings: Azure's own, upper-cased (as Activity Logs often deliver),
    lower, odd casings, whitespace and affixes, and characters whose Unicode case mapping
    yields ASCII (long s and dotless i upper-case to S and I; the fi/st ligatures to FI/ST;
    sharp s to SS) or does not (Kelvin sign, dotted capital I, Cyrillic o)."""
    low = op.lower()
    out = [op, op.upper(), low, op.swapcase(), "".join(rng.choice([c.upper(), c.lower()]) for c in op),
           " " + op, op + " ", op + "/", "x" + op, op + "/extra", op.replace("/", "//", 1),
           op.replace("/", "\\", 1), op[:-1]]
    for a, b in [("s", "\u017f"), ("i", "\u0131"), ("fi", "\ufb01"), ("st", "\ufb06"),
                 ("ss", "\u00df"), ("k", "\u212a"), ("i", "\u0130"), ("o", "\u043e"),
                 ("a", "\uff41")]:
        if a in low:
            at = rng.choice([i for i in range(len(low)) if low.startswith(a, i)])
            out.append(low[:at] + b + low[at + len(a):])
    return out


RESULTS = ["Success", "Succeeded", "success", "SUCCEEDED", "Start", "Accept", "Failure",
           "Failed", " Success", "Succeeded ", "", None, T.MISSING, ["Success"],
           {"value": "Succeeded"}, True, 1]

CALLERS = ["52.168.10.20", "52.168.10.20:51234", "10.0.0.4", "10.0.0.4:443", "127.0.0.1",
           "192.168.1.20", "172.16.5.4", "172.32.0.1", "100.64.1.1", "169.254.169.254",
           "0.0.0.0", "224.0.0.1", "240.0.0.1", "198.18.0.1", "8.8.8.8", "2603:1030:20e:3::23c",
           "[2603:1030::1]:443", "::1", "fe80::1%eth0", "::ffff:10.0.0.1", "2001:db8::1",
           "fd00::1", "010.0.0.1", "256.1.1.1", "1.2.3", " 10.0.0.1", "\uff11.2.3.4", "not-an-ip",
           "1.2.3.4:5:6", "", " ", None, T.MISSING, 3232235777, 0, -0.0, 1.5, True,
           ["52.1.2.3"], {"ip": "52.1.2.3"}, "\u00e9" * 3, "x" * 1200]


def rid_variants(rid, rng):
    """resourceId forms: as written [RID], upper- and lower-cased, cut before the name
    (marker last), trailing or doubled slashes, a repeated marker, odd names, other types."""
    parts = rid.split("/")
    cut = "/".join(parts[:-1]) if len(parts) > 3 else rid
    out = [rid, rid.upper(), rid.lower(), cut, rid + "/", rid.replace("/", "//"),
           rid + "/" + "/".join(parts[-2:]), rid.replace(parts[-1], "n\u00e4me \"q\" 'a'"),
           rid.replace(parts[-1], "\U0001f600" * 3), rid.replace("/subscriptions/", "/SUBSCRIPTIONS/"),
           rid.replace("/resourceGroups/", "/resourcegroups/"), "/", "", None, T.MISSING, 0, 7,
           True, [], [rid], {}, {"id": rid}, 1.5, "subscriptions"]
    rng.shuffle(out)
    return out


def recase_keys(rec, rng):
    """Keys in other casings, and duplicate spellings before or after the original
    (panther_core keeps the exact key, else the first key equal after lower())."""
    items = list(rec.items()) if isinstance(rec, dict) else []
    if not items:
        return rec
    k, v = rng.choice(items)
    style = rng.randrange(4)
    new = {0: k.upper(), 1: k.lower(), 2: k[:1].upper() + k[1:], 3: k.swapcase()}[style]
    if new == k:
        return rec
    out = {}
    for kk, vv in items:
        if kk == k:
            if rng.random() < 0.5:
                out[new] = vv  # re-cased in place
                continue
            decoy = rng.choice(["junk", None, "", 5, v])
            if rng.random() < 0.5:
                out[new] = decoy
                out[kk] = vv
            else:
                out[kk] = vv
                out[new] = decoy
        else:
            out[kk] = vv
    return out


# ---------- the record set ----------


def strip_missing(v):
    """Templates say MISSING for a key to leave out."""
    if isinstance(v, dict):
        return {k: strip_missing(x) for k, x in v.items() if x is not T.MISSING}
    if isinstance(v, list):
        return [strip_missing(x) for x in v if x is not T.MISSING]
    return v


def records(seed, mutations):
    rng = random.Random(seed)
    out = []

    def add(rec):
        out.append(strip_missing(rec))

    for op, rid, kind in T.OPERATIONS:
        base = T.base_record(kind, op, rid, rng)
        add(base)
        for spelled in op_spellings(op, rng):
            add(T.with_field(base, "operationName", spelled))
        for res in RESULTS:
            add(T.with_field(base, "resultType", res))
        for r in rid_variants(rid, rng)[:12]:
            add(T.with_field(T.with_field(base, "resultType", rng.choice(["Success", "Succeeded"])),
                             "resourceId", r))
        for c in rng.sample(CALLERS, 8):
            add(T.with_field(base, "callerIpAddress", c))
        for props in T.property_shapes(base, rng)[:6]:
            add(T.with_field(base, "properties", props))
        for _ in range(3):
            add(recase_keys(T.with_field(base, "operationName", rng.choice([op, op.upper()])), rng))

    for rec in T.special_records(rng):
        add(rec)
    for rec in T.limit_records(rng):
        add(rec)
    for text in T.raw_records():
        add(Raw(text))

    plain = [r for r in out if isinstance(r, dict) and len(json.dumps(r)) < 20000]
    for _ in range(mutations):
        rec = rng.choice(plain)
        for _ in range(rng.randrange(1, 4)):
            rec = mutate(rec, rng)
        add(rec)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--marks")
    ap.add_argument("--seed", type=int, default=20251223)
    ap.add_argument("--mutations", type=int, default=1500)
    args = ap.parse_args()
    marks = {k: [] for k in KNOWN}
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for i, rec in enumerate(records(args.seed, args.mutations)):
            text = rec.text if isinstance(rec, Raw) else json.dumps(
                rec, ensure_ascii=i % 3 == 0, separators=(",", ":") if i % 2 else (", ", ": "))
            assert "\n" not in text
            f.write(text + "\n")
            for m in sorted(marks_of(text)):
                marks[m].append(i)
    if args.marks:
        with open(args.marks, "w", encoding="utf-8") as f:
            json.dump({"known": KNOWN, "records": marks}, f, indent=1)


if __name__ == "__main__":
    main()
