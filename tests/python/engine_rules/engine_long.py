# Titles and dedup strings over 1,000 characters are cut to 985 plus "... (truncated)".
def rule(event):
    return event.get("kind") == "long"


def title(event):
    return str(event.get("unit")) * event.get("n")


def dedup(event):
    return "d:" + str(event.get("unit")) * event.get("n2", 1)
