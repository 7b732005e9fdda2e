"""Records for the engine fixtures in tests/python/engine_rules (engine_differential.rs).

    python3 tests/python/gen_engine_records.py --out RECORDS.jsonl [--marks MARKS.json] [--seed N]

Each fixture rule matches on `kind`; its records put odd values where the rule reads: every
JSON type, strings that Python renders with escapes or case-maps oddly, keys that differ only
in case, sizes around panther_core's limits. Some of the Azure templates of
gen_activity_records.py, given a `kind`, add realistic shapes. Deterministic for a seed.
Marks name records holding a difference tracked apart (see KNOWN).
"""

import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import activity_templates as T  # noqa: E402
import gen_activity_records as A  # noqa: E402
from mutate_records import mutate  # noqa: E402

KNOWN = dict(A.KNOWN)
# Case pairs that Unicode 16.0 added (Cyrillic TJE, Latin letters of the A7Cx block).
NEWER_CASED = "\u1c89\u1c8a\ua7cb\ua7cc\ua7cd\ua7ce\ua7cf\ua7d2\ua7d4\ua7da\ua7db\ua7dc"

STRINGS = ["", "a", "abc", "Abc", "\u00e9", "\u00df", "\u0149", "\u01f0", "\ufb01", "\u0130",
           "\u0131", "\u017f", "\u212a", "it's", "say \"hi\"", "both ' and \"", "back\\slash",
           "tab\tnl\nret\r", "\x00\x1f\x7f", "\u0085\u00a0\u00ad", "\u2028\u2029", "\u200b\u200f",
           "\ufeff", "\ue000", "\U0001f600", "\u65e5\u672c", "\u0378", "\u0600", "\U000e0001",
           "\u180e", "\U0001d173", "\ufff0", "\U0010ffff", "\u1c89\u1c8a", "\ua7cb", "x" * 1200,
           "MEDIUM", "high", "DEFAULT", "\u0131nfo"]
SCALARS = [None, True, False, 0, 1, -1, 7, 1.5, -0.0, 1e16, 1e-05, 0.1, 123456789.125, 2.5e-300,
           9007199254740993, -9223372036854775808, 18446744073709551615]
CONTAINERS = [[], ["a"], ["a", 1, None, True, 1.5], [["n"]], [{"k": "v"}], {}, {"k": "v"},
              {"K": 1, "k": 2}, {"nested": {"deep": [1, {"x": None}]}}, {"q": "it's"},
              ["it's", "say \"hi\""], {"uni": "\u00e9\u0378"}, ("tuple-ish",), {"": ""}]


def values(rng, k=None):
    vals = STRINGS + SCALARS + [list(c) if isinstance(c, tuple) else c for c in CONTAINERS]
    return vals if k is None else rng.sample(vals, k)


def r(kind, **fields):
    return {"kind": kind, **fields}


def render(rng):
    out = [r("render", x=v) for v in values(rng)]
    for y in [T.MISSING, None, "s", 5, [], {"z": None}, {"z": False}, {"z": 0}, {"z": ""},
              {"Z": "upper"}, {"z": {"a": [1]}}, {"z": ["l", {"m": 1}]}, {"z": "\u0378"}]:
        out.append(r("render", x="x", y=y, n=rng.choice([0, 1.0, "n", None, T.MISSING])))
    return out


def title_errors(rng):
    out = []
    for mode in ["raw", "empty", "upper", None]:
        out += [r("title", mode=mode, x=v) for v in values(rng, 20)]
    out += [r("title", mode="upper", x=s) for s in ["\u00df", "\u0149", "\ufb01", NEWER_CASED,
                                                     "\u0131", "\u1e9e", "\u01c5"]]
    return out


def long(rng):
    out = []
    for unit in ["a", "\u00e9", "\U0001f600", "ab", ["l"], 7, None, "\u0378"]:
        for n in [985, 999, 1000, 1001, 1002, 1015, 1200, 0, -3]:
            out.append(r("long", unit=unit, n=n if unit != "ab" else n // 2 + 1,
                         n2=rng.choice([n, 1, 998, 999, T.MISSING])))
    out += [r("long", unit="a", n=n) for n in [1.0, None, "5", True, [2]]]
    out += [r("long", unit="a", n=3, n2=n) for n in [1.5, None, False]]
    return out


def dedup(rng):
    out = []
    for mode in ["empty", "none", "raise", "str", None]:
        out += [r("dedup", mode=mode, x=v) for v in values(rng, 12)]
    out += [r("dedup", mode="str", x="y" * n) for n in [333, 334, 340]]
    return out


def context(rng):
    out = [r("context", mode="key"), r("context", mode="key", MISSING_KEY=1)]
    out += [r("context", mode="attr", x=v) for v in values(rng, 15)]
    out += [r("context", mode="zero", n=v) for v in [0, 0.0, -0.0, 1, 3, 7, -2, 0.5, True, False,
                                                     None, "2", [], {}, 1e-300, 2**52 + 1]]
    out += [r("context", mode="add", x=v) for v in [0, 41, -1, 1.5, True, None, "s", [], {}, 2**53]]
    out += [r("context", mode="list", x=v) for v in values(rng, 3)]
    for v in values(rng, 25):
        out.append(r("context", z=v, a={"b": rng.choice(values(rng))}, l=[v],
                     properties={"p": v, "P": "case twin", "requestbody": json.dumps({"v": 1})}))
    # json.dumps({"blob": s}) is 12 characters plus the escaped text of s
    for ch, weight in [("x", 1), ("\u00e9", 6), ("\U0001f600", 12), ("\"", 2), ("\n", 2),
                       ("\x01", 6), ("\x7f", 6), ("\\", 2)]:
        n0 = (200 * 1024 - 12) // weight
        out += [r("context", mode="big", blob=ch * n) for n in [n0 - 1, n0, n0 + 1]]
    out.append(r("context", mode="big", blob=["x" * 102390, "y" * 102390]))
    return out


def severity(rng):
    sevs = ["INFO", "low", "Medium", "high", "CRITICAL", "DEFAULT", "default", "bogus", "", " high",
            "high ", "\u0131nfo", "cr\u0131t\u0131cal", "HIGH\n", 5, None, True, ["HIGH"], {"s": 1}]
    out = [r("severity", sev=s) for s in sevs] + [r("severity")]
    out += [r("severity", mode="raise", sev=s) for s in sevs]
    return out


def case(rng):
    out = []
    spellings = ["key", "KEY", "Key", "kEy", "\u212aey", "\u212aEY"]
    for _ in range(40):
        keys = rng.sample(spellings, rng.randint(1, 4))
        rec = {"kind": "case"}
        for k in keys:
            rec[k] = f"{k}-value"
        rec[rng.choice(["nest", "NEST", "Nest"])] = {rng.choice(["inner", "INNER", "Inner"]): 1}
        if rng.random() < 0.5:
            rec[rng.choice(["nest", "NeSt"])] = {"inner": "second"}
        rec[rng.choice(["status", "STATUS", "\u017ftatus", "\u017fTATUS"])] = "s"
        if rng.random() < 0.3:
            rec[rng.choice(["\u1c89x", "\u1c8ax", "\u1c89X"])] = "tje"
        out.append(rec)
    return out


def deep(rng):
    out = []
    for a in [T.MISSING, None, "s", 5, [], [{"b": 1}], {}, {"b": None}, {"b": "leaf"}, {"B": {"C": "up"}},
              {"b": {"c": None}}, {"b": {"c": 0}}, {"b": {"c": ""}}, {"b": {"c": [1]}}, {"b": {"C": {"x": 1}}},
              {"b": {"c": False}}, {"b": ["c"]}, {"b": "c"}]:
        out.append(r("deep", a=a))
        out.append(r("deep", A=a, a={"b": {"c": "lower"}}))
    return out


def rule_errors(rng):
    out = []
    for kind in ["rule_raise", "rule_nonbool", "rule_key"]:
        out += [r(kind, x=v) for v in values(rng, 14)]
    out += [r("rule_raise", x=s) for s in ["a", "abc", "Abc", "\u0251"]]
    out += [r("rule_key", nope=1), r("rule_key", NOPE=1), r("rule_key", nope="1")]
    return out


def json_strings(rng):
    texts = ["{\"a\": 1}", "[1, 2.5, null, true]", "\"s\"", "1e16", "-0", "-0.0", "1E400", "NaN",
             "-Infinity", "[\"\\ud800\"]", "{\"a\": 1, \"a\": 2}", "{\"k\": \"it's\"}", "18446744073709551616",
             "[" * 130 + "]" * 130, "[" * 40 + "]" * 40, "", " ", "{bad", "\ufeff{}", " {\"a\": [1]} ",
             "{\"\\u00e9\": \"\\u0378\"}", "0.1", "123456789012345678901234567890.5", "[1e-7, 1e22]"]
    return [r("json", s=t) for t in texts] + [r("json", s=v) for v in [None, 5, ["[]"]]]


def azure_shaped(rng):
    """Realistic Activity Log shapes around the fixtures' fields."""
    out = []
    for op, rid, kind in rng.sample(T.OPERATIONS, 12):
        base = T.base_record(kind, op, rid, rng)
        for k in ["render", "context", "deep", "case"]:
            rec = dict(base, kind=k, x=base.get("identity"), y={"z": base.get("properties")})
            rec["a"] = {"b": {"c": base.get("resourceId")}}
            out.append(rec)
    return out


def marks_of(rec):
    return A.marks_of(json.dumps(rec))


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if x is not T.MISSING}
    if isinstance(v, list):
        return [strip(x) for x in v if x is not T.MISSING]
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--marks")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--mutations", type=int, default=400)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    recs = []
    for part in [render, title_errors, long, dedup, context, severity, case, deep, rule_errors,
                 json_strings, azure_shaped]:
        recs += [strip(x) for x in part(rng)]
    small = [x for x in recs if len(json.dumps(x)) < 20000]
    for _ in range(args.mutations):
        rec = rng.choice(small)
        for _ in range(rng.randrange(1, 3)):
            rec = mutate(rec, rng)
        recs.append(rec)
    marks = {k: [] for k in KNOWN}
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for i, rec in enumerate(recs):
            f.write(json.dumps(rec, ensure_ascii=i % 2 == 0) + "\n")
            for m in sorted(marks_of(rec)):
                marks[m].append(i)
    if args.marks:
        with open(args.marks, "w", encoding="utf-8") as f:
            json.dump({"known": KNOWN, "records": marks}, f)


if __name__ == "__main__":
    main()
