"""Generates odd variants of seed records, for differential runs against panther_core.

    python3 tests/python/mutate_records.py SEEDS.jsonl COUNT [SEED] > records.jsonl

Each output record is a seed with one to three mutations: a key re-cased or duplicated in
another casing (before or after the original), a field deleted, nulled or given another JSON
type, a string value re-cased, padded or made very long (titles over 1,000 characters), nested
objects turned into JSON strings and back. Deterministic for a given SEED.
"""

import json
import random
import sys

ODD_VALUES = [None, 0, 1, -1, 2**70, 1.5, -15096162171.497213, True, False, "", " ", "x",
              [], ["a"], [1, None], {}, {"a": 1}, "Success", "Succeeded", "success",
              "Failure", "Start", "a" * 1200, "é" * 700, "/", "/subscriptions/",
              "/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV",
              "1.2.3.4:5678", "10.0.0.1", "::1", "[2001:db8::1]:443"]


def paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from paths(v, prefix + (k,))


def get_parent(obj, path):
    for k in path[:-1]:
        obj = obj[k]
    return obj


def recase(s, rng):
    return rng.choice([s.upper(), s.lower(), s.swapcase(), s[:1].upper() + s[1:]])


def mutate(rec, rng):
    rec = json.loads(json.dumps(rec))
    ps = [p for p in paths(rec)]
    if not ps:
        return rec
    path = rng.choice(ps)
    parent = get_parent(rec, path)
    key = path[-1]
    if not isinstance(parent, dict) or key not in parent:
        return rec
    op = rng.randrange(8)
    if op == 0:  # re-case the key (keeping order)
        new = recase(key, rng)
        items = [(new if k == key else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
    elif op == 1:  # duplicate in another casing, before or after
        new = recase(key, rng)
        if new != key:
            val = rng.choice(ODD_VALUES + [parent[key]])
            items = list(parent.items())
            idx = [k for k, _ in items].index(key)
            items.insert(idx + rng.choice([0, 1]), (new, val))
            parent.clear()
            parent.update(items)
    elif op == 2:
        del parent[key]
    elif op == 3:
        parent[key] = rng.choice(ODD_VALUES)
    elif op == 4 and isinstance(parent[key], str):
        parent[key] = recase(parent[key], rng)
    elif op == 5 and isinstance(parent[key], str):
        parent[key] = rng.choice([" ", "", "x" * 1100]) + parent[key]
    elif op == 6 and isinstance(parent[key], dict):
        parent[key] = json.dumps(parent[key])
    elif op == 7 and isinstance(parent[key], str):
        try:
            parent[key] = json.loads(parent[key])
        except ValueError:
            parent[key] = parent[key] * rng.randrange(1, 4)
    return rec


def main():
    seeds = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
    count = int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    for s in seeds:
        print(json.dumps(s))
    for _ in range(count):
        rec = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            rec = mutate(rec, rng)
        print(json.dumps(rec))


if __name__ == "__main__":
    main()
