# No title (the alert is named after the rule); dedup empty, None or raising gives the default.
def rule(event):
    return event.get("kind") == "dedup"


def dedup(event):
    mode = event.get("mode")
    if mode == "empty":
        return ""
    if mode == "none":
        return None
    if mode == "raise":
        return event.get("x").lower()
    return str(event.get("x")) * 3
