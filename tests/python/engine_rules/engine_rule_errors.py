# rule() raising or returning anything but a bool is a rule error (no alert).
def rule(event):
    mode = event.get("kind")
    if mode == "rule_raise":
        return event.get("x").startswith("a")
    if mode == "rule_nonbool":
        return event.get("x")
    if mode == "rule_key":
        return event["nope"] == 1
    return False


def title(event):
    return f"rule error fixture {event.get('x')}"
