# A title that raises or is not a str becomes the rule id; an empty one the display name.
def rule(event):
    return event.get("kind") == "title"


def title(event):
    mode = event.get("mode")
    if mode == "raw":
        return event.get("x")
    if mode == "empty":
        return ""
    return event.get("x").upper()
