# Nested event values, exceptions ({"_error": repr}), a non-Mapping, and the 200 KiB limit.
def rule(event):
    return event.get("kind") == "context"


def alert_context(event):
    mode = event.get("mode")
    if mode == "key":
        return {"v": event["missing_key"]}
    if mode == "attr":
        return {"v": event.get("x").lower()}
    if mode == "zero":
        return {"v": 1 / event.get("n")}
    if mode == "add":
        return {"v": event.get("x") + 1}
    if mode == "list":
        return [event.get("x")]
    if mode == "big":
        return {"blob": event.get("blob")}
    return {
        "z": event.get("z"),
        "a": event.deep_get("a", "b"),
        "props": event.get("properties"),
        "l": event.get("l"),
    }
