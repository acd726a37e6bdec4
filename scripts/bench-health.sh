#!/usr/bin/env bash
# Reads beside a monitor (issue #25): last-N latency at a fixed rate, quiet and while `/health`
# is polled every 200 ms, as a liveness probe or a dashboard would. Each `/health` used to
# walk every cached series on a runtime thread (7.6 ms at a million series).
#
# Usage: scripts/bench-health.sh [BACKGROUND_SERIES]      (default 1000000)
#   CLIO=path/to/clio   the binary under test (default target/release/clio)
#   RATE=5000 ROUNDS=2
#
# Loads BACKGROUND_SERIES series of one point and 10,000 series of 100 points, waits for the
# flush, then runs ROUNDS pairs of 10-s runs of last=10 at RATE: one quiet, one polled. Prints
# the client's percentiles, the `/health` times and the machine's steal for each.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
BG=${1:-1000000}
RATE=${RATE:-5000}; ROUNDS=${ROUNDS:-2}
CLIO=${CLIO:-target/release/clio}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio (or set CLIO)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/clio-health.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
# Flush as soon as the load is in, not after cache_service_interval.
cat >"$WORK/clio.toml" <<TOML
[cache]
flush_unflushed_points = 1000000
TOML
export CLIO_CONFIG="$WORK/clio.toml"
port=$(free_port)
URL="http://127.0.0.1:$port"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
start_clio "$WORK/data" "$port" "$WORK/clio.log"
load_read_series "$URL" "$BG"
wait_flushed "$URL"
sleep 3 # the flush's upkeep after its last point
# Every series read once, so that both runs read from memory.
"$CLIO" bench query --server "$URL" -r "$RATE" -s 10000 -d 3 -n 10 --json >/dev/null
for _ in $(seq "$ROUNDS"); do
  for mode in quiet polled; do
    HP=""
    if [ "$mode" = polled ]; then
      (for _ in $(seq 55); do curl -sf -o /dev/null -w '%{time_total}\n' "$URL/health"; sleep 0.2; done >"$WORK/health.txt") &
      HP=$!
    fi
    c0=$(cpu_ticks)
    "$CLIO" bench query --server "$URL" -r "$RATE" -s 10000 -d 10 -n 10 --json >"$WORK/q.json"
    c1=$(cpu_ticks)
    polled=""
    if [ -n "$HP" ]; then
      wait "$HP"
      polled="; /health $(sort -n "$WORK/health.txt" | awk '{t[NR] = $1 * 1000} END {printf "p50 %.1f ms, max %.1f ms", t[int((NR + 1) / 2)], t[NR]}')"
    fi
    echo "$mode: $(field "$WORK/q.json" "f\"p50 {d['latency_ms']['p50']:.3f} ms, p99 {d['latency_ms']['p99']:.3f} ms, p99.9 {d['latency_ms'].get('p999', float('nan')):.3f} ms, max {d['latency_ms']['max']:.2f} ms\"")$polled; machine steal $(steal_pct "$c0" "$c1") %"
  done
done
