# severity() is upper-cased; DEFAULT, anything unknown, a non-str or an exception: the rule's.
def rule(event):
    return event.get("kind") == "severity"


def title(event):
    return "severity"


def severity(event):
    if event.get("mode") == "raise":
        return event.get("sev").upper()
    return event.get("sev")
