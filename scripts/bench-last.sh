#!/usr/bin/env bash
# Last-N tail at a fixed rate, run after run (issue #25): where the slow requests come from.
#
# Usage: scripts/bench-last.sh [BACKGROUND_SERIES]      (default 1000000)
#   CLIO=path/to/clio   the server under test (default target/release/clio)
#   GENS="bin1 bin2"    the `clio` binaries that generate the load, taken in turn run after
#                       run against the same server (default: CLIO), to compare generators
#   RUNS=6 RATE=5000 N=10
#
# Loads BACKGROUND_SERIES series of one point (measurement `bg`) and 10,000 series of 100
# points, waits for the flush and then runs RUNS 10-s runs of last=N at RATE over the 10,000.
# For each run it prints the machine's steal over the run, the client's percentiles, the
# generator's own lag (`--samples`), the share of the handler's histogram under 391 µs and
# when the slow requests came (scripts/lib/samples.py).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
BG=${1:-1000000}
RUNS=${RUNS:-6}; RATE=${RATE:-5000}; N=${N:-10}
CLIO=${CLIO:-target/release/clio}
read -r -a GENS <<<"${GENS:-$CLIO}"
for b in "$CLIO" "${GENS[@]}"; do
  [ -x "$b" ] || { echo "no $b: cargo build --release -p clio (or set CLIO, GENS)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/clio-last.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
port=$(free_port)
URL="http://127.0.0.1:$port"
# Flush as soon as the load is in, not after cache_service_interval.
cat >"$WORK/clio.toml" <<TOML
[cache]
flush_unflushed_points = 1000000
TOML
export CLIO_CONFIG="$WORK/clio.toml"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
start_clio "$WORK/data" "$port" "$WORK/clio.log"
load_read_series "$URL" "$BG"
wait_flushed "$URL"
sleep 3 # the flush's upkeep after its last point
echo "loaded and flushed: $BG background series, 10,000 series x 100 points; resident $(ps -o rss= -p "$PID") KiB"
for r in $(seq "$RUNS"); do
  gen=${GENS[$(((r - 1) % ${#GENS[@]}))]}
  c0=$(cpu_ticks); h0=$(points_read_hist "$URL")
  "$gen" bench query --server "$URL" -r "$RATE" -s 10000 -d 10 -n "$N" --json \
    --samples "$WORK/samples.csv" >"$WORK/q.json"
  c1=$(cpu_ticks)
  echo "run $r, generator $gen: $(field "$WORK/q.json" "f\"p50 {d['latency_ms']['p50']:.3f} ms, p99 {d['latency_ms']['p99']:.3f} ms, p99.9 {d['latency_ms']['p999']:.3f} ms, failed {d['failed']}\""); $(run_context "$c0" "$c1" "$h0" "$(points_read_hist "$URL")")"
  python3 scripts/lib/samples.py "$WORK/samples.csv" | sed 's/^/  /'
done
