#!/usr/bin/env bash
# CPU time and context switches per last-N read, for the server and for the load generator
# (issue #25): on a machine where both share the cores, what one request costs each of them
# is what the other threads queue behind.
#
# Usage: scripts/bench-cpu-per-request.sh
#   CLIO=target/release/clio  RATE=5000  N=10  DUR=10  RUNS=3
#   CLIENTS="lean hyper" (the generator's read clients, `clio bench query --client`; each
#   run measures them one after the other)
#
# Loads 10,000 series of 100 points, waits for the flush, reads each series once (so every
# read after that is answered from the cache), then reads last=N at RATE for DUR seconds and
# samples both processes' CPU ticks (user and system, /proc/PID/stat) and context switches
# (/proc/PID/task/*/status) over the middle of the run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
CLIO=${CLIO:-target/release/clio}
RATE=${RATE:-5000}; N=${N:-10}; DUR=${DUR:-10}; RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-lean}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio" >&2; exit 1; }
[ "$DUR" -ge 4 ] || { echo "DUR must be at least 4 (seconds)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/clio-cpu-per-request.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
# "user system" clock ticks of a process, all its threads.
ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# Context switches of a process, all its threads (voluntary + involuntary).
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s}'; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$WORK/clio.toml"; export CLIO_CONFIG="$WORK/clio.toml"
port=$(free_port); URL="http://127.0.0.1:$port"
start_clio "$WORK/data" "$port" "$WORK/clio.log"
load_read_series "$URL" 0
wait_flushed "$URL"
"$CLIO" bench query --server "$URL" -r "$RATE" -s 10000 -d 3 -n "$N" >/dev/null
hz=$(getconf CLK_TCK)
for r in $(seq "$RUNS"); do
 for client in $CLIENTS; do
  printf '%-6s ' "$client"
  "$CLIO" bench query --server "$URL" --client "$client" -r "$RATE" -s 10000 -d "$DUR" -n "$N" \
    --json >"$WORK/q.json" &
  GEN=$!
  sleep 1
  s0=$(ticks "$PID"); g0=$(ticks "$GEN"); x0=$(switches "$PID"); y0=$(switches "$GEN")
  sleep $((DUR - 2))
  s1=$(ticks "$PID"); g1=$(ticks "$GEN"); x1=$(switches "$PID"); y1=$(switches "$GEN")
  wait "$GEN"
  python3 - "$s0" "$s1" "$g0" "$g1" "$x0" "$x1" "$y0" "$y1" "$hz" "$RATE" "$((DUR - 2))" <<'PY'
import sys
a = sys.argv[1:]
(su0, ss0), (su1, ss1), (gu0, gs0), (gu1, gs1) = (map(int, x.split()) for x in a[0:4])
x0, x1, y0, y1, hz, rate, secs = map(int, a[4:11])
n = rate * secs
us = lambda t: t / hz / n * 1e6
print(f"per request: server user {us(su1 - su0):.0f} us, system {us(ss1 - ss0):.0f} us, "
      f"{(x1 - x0) / n:.2f} switches; generator user {us(gu1 - gu0):.0f} us, "
      f"system {us(gs1 - gs0):.0f} us, {(y1 - y0) / n:.2f} switches")
PY
  echo "       $(field "$WORK/q.json" "f\"client p50 {d['latency_ms']['p50']:.3f} ms, p99 {d['latency_ms']['p99']:.3f} ms\"")"
 done
done
