#!/usr/bin/env python3
"""Loads the local Event Hubs emulator with corpus bodies (Python azure-eventhub SDK).

    python3 bench/e2e_load.py preload --port P --hub H --corpus C --records N
        sends bodies of C (one per line), round-robin over the hub's partitions, in batches,
        until at least N records are sent; prints "events=E records=R bytes=B seconds=S".
    python3 bench/e2e_load.py steady --port P --hub H --corpus C --rate R --seconds S
        offers R records/s for S seconds: every 100 ms it sends the bodies that keep the
        cumulative record count at R * elapsed (one batch, partitions in turn); prints what it
        achieved.

Each body's records are counted with json.loads once, before sending starts.
"""

import argparse
import json
import sys
import time

from azure.eventhub import EventData, EventHubProducerClient


def conn_str(port, hub):
    return (
        f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=dGVzdA==;"
        f"EntityPath={hub};UseDevelopmentEmulator=true"
    )


def load_bodies(path, limit_records):
    """(body bytes, record count) pairs, cycling the corpus until limit_records are covered."""
    bodies = []
    total = 0
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line:
                continue
            doc = json.loads(line)
            n = len(doc["records"]) if isinstance(doc, dict) and "records" in doc else 1
            bodies.append((line, n))
            total += n
            if total >= limit_records:
                break
    return bodies


def send_bodies(producer, partition, items):
    """Sends items (body, n) to one partition in as few batches as fit; returns batches sent."""
    sent = 0
    batch = producer.create_batch(partition_id=partition)
    count = 0
    for body, _ in items:
        try:
            batch.add(EventData(body))
            count += 1
        except ValueError:  # batch full
            producer.send_batch(batch)
            sent += 1
            batch = producer.create_batch(partition_id=partition)
            batch.add(EventData(body))
            count = 1
    if count:
        producer.send_batch(batch)
        sent += 1
    return sent


def preload(args):
    bodies = load_bodies(args.corpus, args.records)
    producer = EventHubProducerClient.from_connection_string(conn_str(args.port, args.hub))
    with producer:
        partitions = producer.get_partition_ids()
        start = time.monotonic()
        per = {p: [] for p in partitions}
        for i, item in enumerate(bodies):
            per[partitions[i % len(partitions)]].append(item)
        for p, items in per.items():
            send_bodies(producer, p, items)
        secs = time.monotonic() - start
    records = sum(n for _, n in bodies)
    size = sum(len(b) for b, _ in bodies)
    print(f"events={len(bodies)} records={records} bytes={size} seconds={secs:.1f} partitions={len(partitions)}")


def steady(args):
    bodies = load_bodies(args.corpus, int(args.rate * args.seconds * 1.2) + 1000)
    producer = EventHubProducerClient.from_connection_string(conn_str(args.port, args.hub))
    with producer:
        partitions = producer.get_partition_ids()
        start = time.monotonic()
        sent_records = 0
        sent_events = 0
        i = 0
        tick = 0
        behind = 0
        while True:
            now = time.monotonic() - start
            if now >= args.seconds:
                break
            due = int(args.rate * now)
            items = []
            while sent_records < due:
                item = bodies[i % len(bodies)]
                i += 1
                items.append(item)
                sent_records += item[1]
            if items:
                send_bodies(producer, partitions[tick % len(partitions)], items)
                sent_events += len(items)
                tick += 1
            nxt = start + (int(now / 0.1) + 1) * 0.1
            delay = nxt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                behind += 1
        secs = time.monotonic() - start
    print(
        f"events={sent_events} records={sent_records} seconds={secs:.1f} "
        f"offered_records_per_s={sent_records / secs:.0f} late_ticks={behind}"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["preload", "steady"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--hub", default="activity")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=45)
    args = ap.parse_args()
    preload(args) if args.mode == "preload" else steady(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
