#!/usr/bin/env python3
"""InfluxQL read latency, Clio beside InfluxDB 1.x on the same data (docs/influxql.md).

Loads one series with a year of points every 10 s and 100 series with a day of points every
10 s into `clio serve` (and into `influxd` when it is installed), restarts the servers (cold
caches, everything flushed), then times the queries Grafana sends: `SELECT mean(value) ...
GROUP BY time(1m)` over a day and a year of one series and over a day of 100 series, plus
coarser intervals that Clio answers from its trend buckets. Prints p50/p99 per query.

    scripts/bench-influxql.py [--clio target/release/clio] [--reps N] [--trend-1m]

Standard library only. `--trend-1m` adds a 1-minute trend interval to Clio's configuration.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

STEP_MS = 10_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS  # --year-days changes it (smoke runs)


def http(base, method, path, body=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    with urllib.request.urlopen(req, timeout=600) as r:
        return r.status, r.read()


def write(base, lines):
    body = "\n".join(lines).encode()
    st, _ = http(base, "POST", "/write?db=bench&precision=ms", body)
    assert st == 204, st


def load(base, end):
    t0 = time.time()
    n = 0
    # One series, a year.
    start = end - YEAR_MS
    batch = []
    for i in range((YEAR_MS) // STEP_MS):
        t = start + i * STEP_MS
        batch.append(f"year,host=h0 value={20 + (i % 600) / 10} {t}")
        if len(batch) == 50_000:
            write(base, batch)
            n += len(batch)
            batch = []
    # 100 series, a day.
    start = end - DAY_MS
    for i in range(DAY_MS // STEP_MS):
        t = start + i * STEP_MS
        for h in range(100):
            batch.append(f"day,host=h{h:03} value={h + (i % 60) / 10} {t}")
        if len(batch) >= 50_000:
            write(base, batch)
            n += len(batch)
            batch = []
    if batch:
        write(base, batch)
        n += len(batch)
    return n, time.time() - t0


def query(base, q):
    path = "/query?" + urllib.parse.urlencode({"db": "bench", "q": q, "epoch": "ms"})
    t0 = time.perf_counter()
    st, body = http(base, "GET", path)
    dt = time.perf_counter() - t0
    assert st == 200, (st, body[:200])
    r = json.loads(body)["results"][0]
    assert "error" not in r, r
    rows = sum(len(s.get("values", [])) for s in r.get("series", []))
    return dt, rows


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


class Clio:
    name = "clio"

    def __init__(self, binary, work, trend_1m):
        self.binary, self.dir = binary, os.path.join(work, "clio")
        os.makedirs(self.dir, exist_ok=True)
        self.cfg = os.path.join(work, "clio.toml")
        trends = '"1m", "10m", "30m", "1h", "1d"' if trend_1m else '"10m", "30m", "1h", "1d"'
        with open(self.cfg, "w") as f:
            f.write(
                f"[storage]\ntrend_intervals = [{trends}]\n"
                "[ingest]\ntimestamp_max_time_diff = 0\n[housekeeper]\nenabled = false\n"
            )

    def start(self):
        self.p = subprocess.Popen(
            [self.binary, "serve", "--config", self.cfg, "--data-dir", self.dir,
             "--http", "127.0.0.1:0", "--tcp", ""],
            stdout=subprocess.PIPE, env={**os.environ, "CLIO_LOG": "warn"})
        line = self.p.stdout.readline().decode()
        addr = [w for w in line.split() if w.startswith("http=")][0][5:]
        self.base = "http://" + addr

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=600)


class Influx:
    name = "influxdb"

    def __init__(self, work):
        self.dir = os.path.join(work, "influx")
        self.cfg = os.path.join(work, "influxdb.conf")
        with open(self.cfg, "w") as f:
            f.write(f"""reporting-disabled = true
bind-address = "127.0.0.1:18188"
[meta]
  dir = "{self.dir}/meta"
[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false
[coordinator]
  max-select-buckets = 0
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:18186"
  log-enabled = false
""")
        self.base = "http://127.0.0.1:18186"

    def start(self):
        self.p = subprocess.Popen(["influxd", "run", "-config", self.cfg],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if http(self.base, "GET", "/ping")[0] == 204:
                    break
            except Exception:
                time.sleep(0.1)
        http(self.base, "POST", "/query?" + urllib.parse.urlencode({"q": "CREATE DATABASE bench"}))

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clio", default="target/release/clio")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--trend-1m", action="store_true")
    ap.add_argument("--no-influxdb", action="store_true")
    ap.add_argument("--year-days", type=int, default=365)
    a = ap.parse_args()
    global YEAR_MS
    YEAR_MS = a.year_days * DAY_MS
    work = tempfile.mkdtemp(prefix="bench-influxql-")
    # Everything ends at the last whole hour, so that every range is bucket-aligned.
    end = (int(time.time() * 1000) // 3_600_000) * 3_600_000
    day = f"time >= {end - DAY_MS}ms AND time < {end}ms"
    year = f"time >= {end - YEAR_MS}ms AND time < {end}ms"
    queries = [
        ("1 series, 1 day, time(1m)", f"SELECT mean(value) FROM year WHERE host = 'h0' AND {day} GROUP BY time(1m)", a.reps),
        ("1 series, 1 year, time(1m)", f"SELECT mean(value) FROM year WHERE host = 'h0' AND {year} GROUP BY time(1m)", max(5, a.reps // 10)),
        ("1 series, 1 year, time(1h)", f"SELECT mean(value) FROM year WHERE host = 'h0' AND {year} GROUP BY time(1h)", a.reps),
        ("1 series, 1 year, time(1d)", f"SELECT mean(value) FROM year WHERE host = 'h0' AND {year} GROUP BY time(1d)", a.reps),
        ("100 series, 1 day, time(1m), one line", f"SELECT mean(value) FROM day WHERE {day} GROUP BY time(1m)", a.reps),
        ("100 series, 1 day, time(1m), GROUP BY host", f"SELECT mean(value) FROM day WHERE {day} GROUP BY time(1m), host", max(5, a.reps // 5)),
        ("100 series, 1 day, time(1h), GROUP BY host", f"SELECT mean(value) FROM day WHERE {day} GROUP BY time(1h), host", a.reps),
    ]
    servers = [Clio(a.clio, work, a.trend_1m)]
    if not a.no_influxdb and shutil.which("influxd"):
        servers.append(Influx(work))
    results = {}
    try:
        for s in servers:
            s.start()
            n, took = load(s.base, end)
            print(f"{s.name}: loaded {n} points in {took:.1f} s ({n / took:,.0f} points/s)", flush=True)
            s.stop()
            s.start()  # cold: caches empty, everything on disk
            for label, q, reps in queries:
                query(s.base, q)  # one warm-up, as a dashboard refresh would be
                times, rows = [], 0
                for _ in range(reps):
                    dt, rows = query(s.base, q)
                    times.append(dt * 1000)
                results[(s.name, label)] = (statistics.median(times), pct(times, 99), rows)
                print(f"{s.name:8} {label:45} p50 {statistics.median(times):9.2f} ms  p99 {pct(times, 99):9.2f} ms  rows {rows}", flush=True)
            s.stop()
    finally:
        for s in servers:
            if getattr(s, "p", None) and s.p.poll() is None:
                s.p.kill()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| query | " + " | ".join(f"{s.name} p50 / p99 (ms)" for s in servers) + " | rows |")
    print("|---|" + "---|" * len(servers) + "---|")
    for label, _, _ in queries:
        cells = []
        rows = 0
        for s in servers:
            p50, p99, rows = results[(s.name, label)]
            cells.append(f"{p50:.1f} / {p99:.1f}")
        print(f"| {label} | " + " | ".join(cells) + f" | {rows} |")


if __name__ == "__main__":
    sys.exit(main())
