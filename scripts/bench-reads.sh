#!/usr/bin/env bash
# Reads at scale (issue #25: "reads stay as fast"): last-N latency at a fixed request rate and
# a one-year range at `resolution=auto`, on a Clio that also holds many other series.
#
# Usage: scripts/bench-reads.sh [BACKGROUND_SERIES]      (default 1000000)
#   CLIO=path/to/clio   the binary under test (default target/release/clio)
#   RATE=5000           last-N requests per second
#
# Loads BACKGROUND_SERIES series of one point each (measurement `bg`), 10,000 series of 100
# points each (`clio_bench`, what `bench query` reads) and one series with a year of points
# every 10 s (`year`, 3.15 M points). It times the reads while the flush after the load runs,
# once that flush has ended, and after a restart (what did not fit the stop's flush budget is
# replayed from the log, and the series read before the stop are loaded into the cache):
# last=10 and last=100 at RATE for 10 s each, 21 one-year reads of the year series at
# `resolution=auto` (the trend buckets the range picks) and, for scale, 21 reads of its last
# day's raw points.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
BG=${1:-1000000}
RATE=${RATE:-5000}
CLIO=${CLIO:-target/release/clio}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio (or set CLIO)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/clio-reads.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
port=$(free_port)
URL="http://127.0.0.1:$port"
start() { start_clio "$WORK/data" "$port" "$WORK/clio.log"; }
stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
start
load_read_series "$URL" "$BG"
# The year series: a point every 10 s up to now, written in requests of 50,000 lines.
python3 - "$URL" <<'PY'
import sys, time, urllib.request
url, step, year = sys.argv[1], 10_000, 365 * 86_400_000
end = int(time.time() * 1000) // step * step
start = end - year
def post(lines):
    req = urllib.request.Request(url + "/write?db=bench&precision=ms", data="\n".join(lines).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        assert r.status == 204, r.status
batch = []
for i in range(year // step):
    batch.append(f"year,host=h0 value={20 + (i % 600) / 10} {start + i * step}")
    if len(batch) == 50_000:
        post(batch)
        batch = []
if batch:
    post(batch)
PY
echo "loaded: $BG background series, 10,000 series x 100 points, 1 series x a year every 10 s"
id=$(curl -sf "$URL/api/v1/series?measurement=year&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["series"][0]["id"])')
measure() { # what the reads take now
  for n in 10 100; do
    local c0 c1 h0
    c0=$(cpu_ticks); h0=$(points_read_hist "$URL")
    "$CLIO" bench query --server "$URL" -r "$RATE" -s 10000 -d 10 -n "$n" --json >"$WORK/q$n.json"
    c1=$(cpu_ticks)
    echo "  last=$n: $(field "$WORK/q$n.json" "f\"{d.get('requests_per_s', 0):.0f} req/s, p50 {d['latency_ms']['p50']:.3f} ms, p99 {d['latency_ms']['p99']:.3f} ms, p99.9 {d['latency_ms'].get('p999', float('nan')):.3f} ms, max {d['latency_ms']['max']:.2f} ms, errors {d.get('errors', 0)}\""); $(run_context "$c0" "$c1" "$h0" "$(points_read_hist "$URL")")"
  done
  local now from
  now=$(python3 -c 'import time; print(int(time.time() * 1000))')
  from=$((now - 365 * 86400000))
  echo "  one year at resolution=auto: $(timed "/api/v1/series/$id/points?from=$from&to=$now&resolution=auto")"
  echo "  the last day, raw points: $(timed "/api/v1/series/$id/points?from=$((now - 86400000))&to=$now&resolution=raw")"
}
timed() { # PATH: p50 and max of 21 timed requests, and the answer's size
  for _ in $(seq 21); do curl -sf -o /dev/null -w '%{time_total} %{size_download}\n' "$URL$1"; done |
    sort -n | awk '{t[NR] = $1 * 1000; b = $2} END {printf "p50 %.1f ms, max %.1f ms, %d bytes\n", t[11], t[NR], b}'
}
echo "after the load, while the flush writes it to storage:"
measure
t0=$(date +%s)
wait_flushed "$URL"
# The flush runs every cache.cache_service_interval (300 s), sooner past its thresholds.
echo "after the flush (everything stored; waited $(($(date +%s) - t0)) s for it):"
measure
stop
start
log_line() { sed 's/\x1b\[[0-9;]*m//g' "$WORK/clio.log" | grep -o "$1.*" | tail -1; }
echo "after a restart ($(log_line 'write-ahead log replayed'); $(log_line 'cache warmed up')):"
measure
stop
