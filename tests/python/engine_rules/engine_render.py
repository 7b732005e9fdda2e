# Lists and dicts reached through the event are Panther's wrappers: their str() names them.
def rule(event):
    return event.get("kind") == "render"


def title(event):
    x = event.get("x")
    deep = event.deep_get("y", "z", default="<none>")
    return f"x=[{x}] deep=[{deep}] n=[{event.get('n', 0)}]"


def alert_context(event):
    return {"x": event.get("x"), "deep": event.deep_get("y", "z"), "missing": event.get("nope")}
