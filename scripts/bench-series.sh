#!/usr/bin/env bash
# Many series (issue #25): new-series ingest, resident memory per series, listings, the
# graceful stop and the restart's log replay, on one Clio with its defaults.
#
# Usage: scripts/bench-series.sh [SERIES] [POINTS]      (default 1000000 3000000)
#   CLIO=path/to/clio   the binary under test (default target/release/clio)
# Prints one line per figure; BENCHMARKS.md's "Many series" tables come from it.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-1000000}
POINTS=${2:-3000000}
CLIO=${CLIO:-target/release/clio}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio (or set CLIO)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/clio-series.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
. scripts/lib/bench.sh
port=$(free_port)
URL="http://127.0.0.1:$port"
start() {
  local t0; t0=$(date +%s.%N)
  start_clio "$WORK/data" "$port" "$WORK/clio.log"
  ELAPSED=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
}
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$PID/status"; }
stop() {
  local t0; t0=$(date +%s.%N)
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  PID=""
  ELAPSED=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
}
median_ms() { # QUERY: median of 7 timed requests to /query
  for _ in 1 2 3 4 5 6 7; do
    curl -s -o /dev/null -w '%{time_total}\n' -G "$URL/query" --data-urlencode "db=clio" --data-urlencode "q=$1"
  done | sort -n | sed -n 4p | awk '{printf "%.1f", $1*1000}'
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
start; echo "started in $ELAPSED s; resident $(rss_mb) MB before any series"
base=$(rss_mb)
"$CLIO" bench ingest-http --server "$URL" -c 4 -b 5000 -s "$SERIES" --points "$POINTS" -d 2h --json >"$WORK/ingest.json"
python3 - "$WORK/ingest.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"ingest creating the series: {d['points']} points at {d['points_per_s']/1000:.0f} k pts/s, p50 {d['latency_ms']['p50']:.0f} ms, p99 {d['latency_ms']['p99']:.0f} ms")
PY
rss=$(rss_mb)
echo "resident after ingest: $rss MB ($(python3 -c "print(f'{($rss - $base) * 1048576 / $SERIES:.0f}')") B per series above the empty server)"
echo "SHOW SERIES FROM clio_bench LIMIT 10: $(median_ms 'SHOW SERIES FROM clio_bench LIMIT 10') ms (median of 7)"
echo "SHOW SERIES FROM clio_bench WHERE host='h042' LIMIT 10: $(median_ms "SHOW SERIES FROM clio_bench WHERE host='h042' LIMIT 10") ms"
echo "SHOW TAG VALUES FROM clio_bench WITH KEY = \"host\": $(median_ms 'SHOW TAG VALUES FROM clio_bench WITH KEY = "host"') ms"
stop; echo "graceful stop: $ELAPSED s"
wal=$(du -sb "$WORK/data/wal" | cut -f1)
echo "log left for the next start: $((wal / 1048576)) MB; data directory $(du -sm "$WORK/data" | cut -f1) MB"
start; echo "restart answered /health after $ELAPSED s"
grep -o 'write-ahead log replayed.*' "$WORK/clio.log" | tail -1 || true
echo "resident after the restart: $(rss_mb) MB"
sleep 20
echo "resident 20 s later (freed pages returned): $(rss_mb) MB ($(python3 -c "print(f'{($(rss_mb) - $base) * 1048576 / $SERIES:.0f}')") B per series above the empty server)"
stop; echo "second graceful stop: $ELAPSED s"
