#!/usr/bin/env bash
# Log replay after a crash (issue #25): ingest, SIGKILL (everything not flushed stays in the
# log), restart, and print the engine's own replay figure and the time until /health.
#
# Usage: scripts/bench-replay.sh [SERIES] [POINTS]      (default 10000 5000000)
#   CLIO=path/to/clio   the binary under test (default target/release/clio)
# `scripts/bench-series.sh` measures the replay of a log that creates a million series;
# this one a log that is mostly points.
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${1:-10000}
POINTS=${2:-5000000}
CLIO=${CLIO:-target/release/clio}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio (or set CLIO)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/clio-replay.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
. scripts/lib/bench.sh
port=$(free_port)
URL="http://127.0.0.1:$port"
start() { start_clio "$WORK/data" "$port" "$WORK/clio.log"; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
start
"$CLIO" bench ingest-http --server "$URL" -c 4 -b 5000 -s "$SERIES" --points "$POINTS" -d 2h --json >/dev/null
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
echo "log after SIGKILL: $(( $(du -sb "$WORK/data/wal" | cut -f1) / 1048576 )) MB"
: >"$WORK/clio.log"
t0=$(date +%s.%N)
start
echo "restart answered /health after $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)") s"
line=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/clio.log" | grep -o 'write-ahead log replayed.*' | tail -1)
echo "$line"
python3 - "$line" <<'PY'
import re, sys
f = dict(re.findall(r"(\w+)=(\d+)", sys.argv[1]))
if "bytes" in f and int(f.get("millis", 0)) > 0:
    print(f"replay: {int(f['bytes']) / 1048576 / (int(f['millis']) / 1000):.0f} MiB/s, {int(f['points']) / (int(f['millis']) / 1000) / 1e6:.1f} M points/s")
PY
