# json.loads inside a rule gives plain Python objects: str() is their repr, not a wrapper's.
import json


def rule(event):
    return event.get("kind") == "json"


def title(event):
    try:
        value = json.loads(event.get("s"))
    except ValueError:
        return "invalid"
    return f"{value}"
