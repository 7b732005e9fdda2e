#!/usr/bin/env python3
"""Interop check of the eventhubs-emulator with the Python azure-eventhub SDK.

Sends events (a batch to partition 0, single events by partition key), reads partition 0 back
from the start and checks bodies, sequence numbers and partition properties. Exits 0 on success.
"""
import argparse
import logging
import sys
import threading

from azure.eventhub import EventData, EventHubConsumerClient, EventHubProducerClient
import pyamqp_tolerant_sockets  # noqa: F401  (patches pyamqp for loaded machines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hub", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    if args.debug:
        logging.basicConfig(level=logging.DEBUG)

    conn = (
        f"Endpoint=sb://{args.host}:{args.port};SharedAccessKeyName=k;"
        f"SharedAccessKey=dGVzdA==;EntityPath={args.hub};UseDevelopmentEmulator=true"
    )

    producer = EventHubProducerClient.from_connection_string(conn)
    with producer:
        props = producer.get_eventhub_properties()
        print("eventhub properties:", props)
        if props["eventhub_name"] != args.hub or not props["partition_ids"]:
            print("unexpected eventhub properties", file=sys.stderr)
            return 1
        batch = producer.create_batch(partition_id="0")
        for i in range(3):
            event = EventData(f"py-{i}")
            event.properties = {"index": i}
            batch.add(event)
        producer.send_batch(batch)
        producer.send_event(EventData("py-keyed"), partition_key="py-key")
        pprops = producer.get_partition_properties("0")
        print("partition 0 properties:", pprops)
        if pprops["last_enqueued_sequence_number"] != 2 or pprops["is_empty"]:
            print("unexpected partition properties", file=sys.stderr)
            return 1

    received = []
    done = threading.Event()

    def on_event(_ctx, event):
        if event is None:
            return
        received.append(event)
        if len(received) >= 3:
            done.set()

    def on_error(_ctx, error):
        print("consumer error:", repr(error), file=sys.stderr)

    consumer = EventHubConsumerClient.from_connection_string(conn, consumer_group="$Default")
    worker = threading.Thread(
        target=consumer.receive,
        kwargs={
            "on_event": on_event,
            "on_error": on_error,
            "partition_id": "0",
            "starting_position": "-1",
        },
        daemon=True,
    )
    worker.start()
    ok = done.wait(args.timeout)
    consumer.close()
    worker.join(10)
    if not ok:
        print(f"timed out: received {len(received)} events", file=sys.stderr)
        return 1

    bodies = [e.body_as_str() for e in received[:3]]
    seqs = [e.sequence_number for e in received[:3]]
    print("received:", list(zip(seqs, bodies, [e.offset for e in received[:3]])))
    if bodies != ["py-0", "py-1", "py-2"] or seqs != [0, 1, 2]:
        print("unexpected events", file=sys.stderr)
        return 1
    if received[1].properties.get(b"index") != 1 and received[1].properties.get("index") != 1:
        print("application properties lost:", received[1].properties, file=sys.stderr)
        return 1
    print("python interop OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
