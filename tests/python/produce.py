#!/usr/bin/env python3
"""Sends events to the local Event Hubs server with the Python azure-eventhub SDK.

Reads JSON lines from stdin, {"partition": "0", "body_base64": "..."}, sends each body as one
event (a batch of one, to that partition) and prints one JSON line per event: {"ok": true} or
{"ok": false, "error": "..."}. Bodies are arbitrary bytes: odd input goes through the real SDK.
"""
import argparse
import base64
import json
import sys

from azure.eventhub import EventData, EventHubProducerClient

import pyamqp_tolerant_sockets  # noqa: F401  (patches pyamqp for loaded machines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    conn = (
        f"Endpoint=sb://{args.host}:{args.port};SharedAccessKeyName=k;"
        f"SharedAccessKey=dGVzdA==;EntityPath={args.hub};UseDevelopmentEmulator=true"
    )
    producer = EventHubProducerClient.from_connection_string(conn)
    with producer:
        for line in sys.stdin:
            item = json.loads(line)
            body = base64.b64decode(item["body_base64"])
            try:
                batch = producer.create_batch(partition_id=item.get("partition", "0"))
                batch.add(EventData(body))
                producer.send_batch(batch)
                print(json.dumps({"ok": True}), flush=True)
            except Exception as e:  # the test reads the reason
                print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
