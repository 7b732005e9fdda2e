# Case-insensitive lookups: the exact key, else the first key equal after str.lower().
KELVIN_KEY = "\u212aey"
LONG_S_KEY = "\u017ftatus"
TJE_KEY = "\u1c8ax"


def rule(event):
    return event.get("kind") == "case"


def title(event):
    parts = [
        event.get("key"),
        event.get("KEY"),
        event.get("Key", "-"),
        event.deep_get("nest", "inner", default="-"),
        event.deep_get("NEST", "INNER", default="-"),
        event.get(KELVIN_KEY, "-"),
        event.get(LONG_S_KEY, "-"),
        event.get("status", "-"),
        event.get(TJE_KEY, "-"),
    ]
    return "|".join(str(p) for p in parts)
