# deep_get through non-dicts and nulls: the default, and a found None is the default too.
def rule(event):
    return event.get("kind") == "deep"


def title(event):
    a = event.deep_get("a", "b", "c", default="D")
    b = event.deep_get("a", "b", default=None)
    c = event.deep_get("A", "B", "C")
    return f"{a}|{b}|{c}"


def alert_context(event):
    return {"abc": event.deep_get("a", "b", "c"), "ab": event.deep_get("a", "b", default="x")}
