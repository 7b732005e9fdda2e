#!/usr/bin/env python3
"""End-to-end benchmark of `hubwatch run` against the local Event Hubs emulator (see e2e.sh).

    python3 bench/e2e_driver.py catchup --partitions 4 --records 200000 --corpus C [--steady-corpus C3]
    python3 bench/e2e_driver.py memory  --partitions 32 --records 50000 --corpus C

catchup: starts the emulator, preloads it (bench/load.rs (example bench-load)), starts `hubwatch run` (file sink,
file checkpoints, start_position earliest, dedup off, default prefetch 300), and polls /metrics
until hubwatch_records_total reaches the preloaded count: prints events/s and records/s from the
first record seen to the last (and from process start). With --steady-corpus it then offers
--rate records/s for --seconds (producer in another process) and reports the end-to-end latency
from hubwatch_end_to_end_latency_seconds (bucket bounds, and Prometheus-style interpolation) and
exact values from a webhook sink whose receiver (in this process) timestamps each alert's
arrival against its source.enqueued_time.

memory: preloads, waits until caught up, waits --settle seconds, and prints VmRSS/VmHWM of
hubwatch from /proc/PID/status.

Every line of results starts with "RESULT ". Processes this script starts are stopped at exit.
"""

import argparse
import datetime as dt
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.path.join(TARGET, "release", "hubwatch")
EMU = os.path.join(TARGET, "release", "eventhubs-emulator")
LOAD = os.path.join(TARGET, "release", "examples", "bench-load")
HUB = "activity"
CONN = "Endpoint=sb://bench.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0;EntityPath=activity"
CHILDREN = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(workdir, partitions):
    port = free_port()
    log = open(os.path.join(workdir, "emulator.log"), "w")
    env = dict(os.environ)
    p = subprocess.Popen([EMU, "--listen", f"127.0.0.1:{port}", "--hub", HUB, "--partitions", str(partitions)],
                         stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    CHILDREN.append(p)
    line = p.stdout.readline()
    if "listening" not in line:
        raise SystemExit(f"emulator did not start: {line!r}")
    return p, port


def preload(port, corpus, records):
    out = subprocess.run([LOAD, "preload", "--endpoint", f"amqp://127.0.0.1:{port}",
                          "--hub", HUB, "--corpus", corpus, "--records", str(records)],
                         check=True, stdout=subprocess.PIPE, text=True)
    fields = dict(kv.split("=") for kv in out.stdout.split())
    return {k: float(v) for k, v in fields.items()}


def write_config(workdir, emu_port, http_port, webhook_port=None, load_balancing="greedy"):
    webhook = ""
    if webhook_port:
        webhook = f"""
[[sinks]]
kind = "webhook"
name = "receiver"
url = "http://127.0.0.1:{webhook_port}/alerts"
batch = true
"""
    text = f"""
[service]
state_dir = "{workdir}/state"
log_format = "json"
log_level = "warn"

[http]
listen = "127.0.0.1:{http_port}"

[source]
kind = "eventhubs"
eventhub = "{HUB}"
credential = "connection-string"
connection_string_env = "HUBWATCH_BENCH_CONNECTION_STRING"
custom_endpoint = "amqp://127.0.0.1:{emu_port}"
start_position = "earliest"
load_balancing = "{load_balancing}"

[checkpoint]
kind = "file"

[rules]
dedup = false

[[sinks]]
kind = "file"
path = "{workdir}/alerts.jsonl"
{webhook}"""
    path = os.path.join(workdir, "hubwatch.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def start_hubwatch(workdir, config, taskset=None):
    env = dict(os.environ, HUBWATCH_BENCH_CONNECTION_STRING=CONN,
               RUST_LOG="warn")
    cmd = [BIN, "run", "--config", config]
    if taskset:
        cmd = ["taskset", "-c", taskset] + cmd
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(workdir, "hubwatch.log"), "w"))
    CHILDREN.append(p)
    return p


def scrape(http_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def histogram(text, name):
    buckets = {}
    count = 0.0
    for line in text.splitlines():
        m = re.match(name + r'_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = float(m.group(2))
        elif line.startswith(name + "_count"):
            count = float(line.split()[-1])
    return buckets, count


def quantile(buckets, q):
    """(upper bound, interpolated value) of quantile q from cumulative buckets."""
    items = sorted(buckets.items())
    total = items[-1][1] if items else 0
    if total == 0:
        return None, None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in items:
        if c >= rank:
            if le == float("inf"):
                return le, prev_le
            frac = (rank - prev_c) / (c - prev_c) if c > prev_c else 1
            return le, prev_le + (le - prev_le) * frac
        prev_le, prev_c = le, c
    return None, None


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM", "Threads")):
                k, v = line.split(":", 1)
                out[k] = v.strip()
    return out


def wait_caught_up(http_port, hw, expected, timeout):
    """Polls until hubwatch_records_total >= expected; returns timing facts."""
    t0 = time.monotonic()
    first = None
    last_seen = 0
    while True:
        if hw.poll() is not None:
            raise SystemExit(f"hubwatch exited with {hw.returncode}")
        text = scrape(http_port)
        rec = metric_sum(text, "hubwatch_records_total")
        now = time.monotonic()
        if rec > 0 and first is None:
            first = now
        if rec != last_seen:
            last_seen = rec
        if rec >= expected:
            return {"start_to_done": now - t0, "first_to_done": now - (first or t0),
                    "first_after": (first or now) - t0, "text": text}
        if now - t0 > timeout:
            raise SystemExit(f"not caught up after {timeout}s: records_total={rec} of {expected}")
        time.sleep(0.1)


class Receiver(http.server.BaseHTTPRequestHandler):
    latencies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = dt.datetime.now(dt.timezone.utc)
        doc = json.loads(body)
        for alert in doc if isinstance(doc, list) else [doc]:
            enq = alert.get("source", {}).get("enqueued_time")
            if enq:
                t = dt.datetime.fromisoformat(enq.replace("Z", "+00:00"))
                Receiver.latencies.append((now - t).total_seconds())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def catchup(args):
    workdir = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    emu, emu_port = start_emulator(workdir, args.partitions)
    load = preload(emu_port, args.corpus, args.records)
    print(f"RESULT preload partitions={args.partitions} events={load['events']:.0f} records={load['records']:.0f} "
          f"bytes={load['bytes']:.0f} producer_seconds={load['seconds']}", flush=True)
    http_port = free_port()
    webhook_port = None
    if args.steady_corpus:
        webhook_port = free_port()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", webhook_port), Receiver)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    config = write_config(workdir, emu_port, http_port, webhook_port, args.load_balancing)
    emu_cpu0 = cpu_seconds(emu.pid)
    hw = start_hubwatch(workdir, config, args.taskset)
    r = wait_caught_up(http_port, hw, load["records"], args.timeout)
    hw_cpu = cpu_seconds(hw.pid)
    emu_cpu = cpu_seconds(emu.pid) - emu_cpu0
    st = status(hw.pid)
    ev, rec, mb = load["events"], load["records"], load["bytes"] / 1e6
    w = max(r["first_to_done"], 0.05)
    print(f"RESULT catchup partitions={args.partitions} load_balancing={args.load_balancing} taskset={args.taskset or 'all'} first_record_after={r['first_after']:.2f}s "
          f"first_to_done={w:.2f}s events_per_s={ev / w:.0f} records_per_s={rec / w:.0f} MB_per_s={mb / w:.1f} "
          f"start_to_done={r['start_to_done']:.2f}s records_per_s_incl_start={rec / r['start_to_done']:.0f} "
          f"hubwatch_cpu_s={hw_cpu:.2f} emulator_cpu_s={emu_cpu:.2f} "
          f"alerts_total={metric_sum(r['text'], 'hubwatch_alerts_total'):.0f} "
          f"VmRSS={st.get('VmRSS')} VmHWM={st.get('VmHWM')} threads={st.get('Threads')}", flush=True)
    time.sleep(2)
    lag = metric_sum(scrape(http_port), "hubwatch_partition_lag_events")
    print(f"RESULT lag_after_catchup sum_partition_lag_events={lag:.0f}", flush=True)
    if args.steady_corpus:
        before, _ = histogram(scrape(http_port), "hubwatch_end_to_end_latency_seconds")
        Receiver.latencies.clear()
        rec_before = metric_sum(scrape(http_port), "hubwatch_records_total")
        cpu_before = cpu_seconds(hw.pid)
        lags = []
        prod = subprocess.Popen([LOAD, "steady", "--endpoint", f"amqp://127.0.0.1:{emu_port}",
                                 "--hub", HUB, "--corpus", args.steady_corpus, "--rate", str(args.rate),
                                 "--seconds", str(args.seconds)], stdout=subprocess.PIPE, text=True)
        CHILDREN.append(prod)
        while prod.poll() is None:
            time.sleep(1)
            lags.append(metric_sum(scrape(http_port), "hubwatch_partition_lag_events"))
        print(f"RESULT producer {prod.stdout.read().strip()}", flush=True)
        time.sleep(3)
        text = scrape(http_port)
        after, _ = histogram(text, "hubwatch_end_to_end_latency_seconds")
        # Histogram buffers are folded into the exposition every 5 s.
        time.sleep(6)
        text = scrape(http_port)
        after, _ = histogram(text, "hubwatch_end_to_end_latency_seconds")
        diff = {le: after.get(le, 0) - before.get(le, 0) for le in after}
        n = max(diff.values()) if diff else 0
        p50 = quantile(diff, 0.5)
        p99 = quantile(diff, 0.99)
        rec_steady = metric_sum(text, "hubwatch_records_total") - rec_before
        cpu = cpu_seconds(hw.pid) - cpu_before
        lat = Receiver.latencies
        print(f"RESULT steady rate={args.rate} seconds={args.seconds} records_processed={rec_steady:.0f} "
              f"hubwatch_cpu_s={cpu:.2f} max_lag_events={max(lags) if lags else 0:.0f}", flush=True)
        print(f"RESULT histogram samples={n:.0f} (both sinks) p50<={p50[0]} (interp {p50[1]:.4f}s) "
              f"p99<={p99[0]} (interp {p99[1]:.4f}s) buckets={json.dumps({str(k): v for k, v in sorted(diff.items())})}", flush=True)
        if lat:
            print(f"RESULT webhook_exact alerts={len(lat)} p50={pct(lat, 0.5) * 1000:.1f}ms p99={pct(lat, 0.99) * 1000:.1f}ms "
                  f"max={max(lat) * 1000:.1f}ms min={min(lat) * 1000:.1f}ms", flush=True)
    st = status(hw.pid)
    print(f"RESULT memory_end partitions={args.partitions} VmRSS={st.get('VmRSS')} VmHWM={st.get('VmHWM')}", flush=True)


def memory(args):
    workdir = args.workdir
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    emu, emu_port = start_emulator(workdir, args.partitions)
    load = preload(emu_port, args.corpus, args.records)
    http_port = free_port()
    config = write_config(workdir, emu_port, http_port, None, args.load_balancing)
    hw = start_hubwatch(workdir, config)
    r = wait_caught_up(http_port, hw, load["records"], args.timeout)
    caught = status(hw.pid)
    time.sleep(args.settle)
    st = status(hw.pid)
    if args.trim:
        # Is the resident memory live, or freed memory glibc keeps? Ask it to give it back.
        subprocess.run(["gdb", "-p", str(hw.pid), "-batch", "-ex", "call (int) malloc_trim(0)"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        trimmed = status(hw.pid)
        print(f"RESULT memory_after_malloc_trim partitions={args.partitions} VmRSS={trimmed.get('VmRSS')}", flush=True)
    print(f"RESULT memory partitions={args.partitions} events={load['events']:.0f} records={load['records']:.0f} "
          f"caught_up_in={r['start_to_done']:.1f}s at_catchup VmRSS={caught.get('VmRSS')} "
          f"after_{args.settle}s VmRSS={st.get('VmRSS')} VmHWM={st.get('VmHWM')} threads={st.get('Threads')}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["catchup", "memory"])
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--steady-corpus")
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--taskset")
    ap.add_argument("--trim", action="store_true", help="memory: call malloc_trim(0) in hubwatch (gdb) after settling")
    ap.add_argument("--load-balancing", default="greedy",
                    help="greedy (one replica claims every partition at once) or balanced (the default of hubwatch: one claim per update interval)")
    ap.add_argument("--workdir", default="/tmp/hubwatch-bench/e2e")
    args = ap.parse_args()
    try:
        catchup(args) if args.mode == "catchup" else memory(args)
    finally:
        for p in reversed(CHILDREN):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
