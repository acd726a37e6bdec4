#!/usr/bin/env bash
# Last-N while a flush writes a million new series (issue #25: reads stay fast while the
# flush runs), one fresh server per run, variants taken in turn.
#
# Usage: scripts/bench-flush-reads.sh [BACKGROUND_SERIES]      (default 1000000)
#   VARIANTS="target/release/clio:low target/release/clio:idle"
#                 BINARY:PRIORITY pairs, run in turn (default: CLIO at each of low, idle,
#                 normal). PRIORITY is `[cache] flush_priority`; `-` leaves the key out (a
#                 binary older than the key).
#   RUNS=2        rounds over the variants
#   DUR=40        seconds of reads per run: long enough to cover the whole flush here
#   RATE=5000 N=10
#   SCHED=1       also record the scheduler (`perf sched record -a`, Debian's linux-perf) over
#                 the reads and print where the server's and the generator's threads waited
#                 for a CPU (scripts/lib/sched_delays.py)
#
# Each run loads BACKGROUND_SERIES series of one point and 10,000 series of 100 points with
# `flush_unflushed_points` at 1.5 M, so that the flush of all of them (a million new series:
# their catalog rows, points and trend buckets) starts during the load, then reads last=N
# at RATE over the 10,000 for DUR seconds. It prints the client's percentiles, the machine's
# steal, how many points the flush had left at the end and when the slow requests came.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
BG=${1:-1000000}
RUNS=${RUNS:-2}; RATE=${RATE:-5000}; N=${N:-10}; DUR=${DUR:-40}
CLIO=${CLIO:-target/release/clio}
read -r -a VARIANTS <<<"${VARIANTS:-$CLIO:low $CLIO:idle $CLIO:normal}"
for v in "${VARIANTS[@]}"; do
  [ -x "${v%:*}" ] || { echo "no ${v%:*}: cargo build --release -p clio (or set VARIANTS)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/clio-flush-reads.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$RUNS"); do
  for v in "${VARIANTS[@]}"; do
    CLIO=${v%:*}; prio=${v##*:}
    rm -rf "$WORK/data"; : >"$WORK/clio.log"
    printf '[cache]\nflush_unflushed_points = 1500000\n' >"$WORK/clio.toml"
    [ "$prio" = - ] || printf 'flush_priority = "%s"\n' "$prio" >>"$WORK/clio.toml"
    export CLIO_CONFIG="$WORK/clio.toml"
    port=$(free_port); URL="http://127.0.0.1:$port"
    start_clio "$WORK/data" "$port" "$WORK/clio.log"
    load_read_series "$URL" "$BG"
    before=$(unflushed_points "$URL")
    c0=$(cpu_ticks); h0=$(points_read_hist "$URL")
    [ "${SCHED:-0}" = 1 ] && { perf sched record -a -o "$WORK/sched.data" -- sleep "$DUR" 2>/dev/null & PERF_PID=$!; }
    "$CLIO" bench query --server "$URL" -r "$RATE" -s 10000 -d "$DUR" -n "$N" --json \
      --samples "$WORK/samples.csv" >"$WORK/q.json" &
    GEN=$!
    wait "$GEN"
    c1=$(cpu_ticks)
    echo "run $r, $v: $(field "$WORK/q.json" "f\"p50 {d['latency_ms']['p50']:.3f} ms, p99 {d['latency_ms']['p99']:.3f} ms, p99.9 {d['latency_ms']['p999']:.3f} ms, max {d['latency_ms']['max']:.1f} ms, failed {d['failed']}\""); unflushed $before at the start, $(unflushed_points "$URL") at the end"
    echo "  $(run_context "$c0" "$c1" "$h0" "$(points_read_hist "$URL")")"
    python3 scripts/lib/samples.py "$WORK/samples.csv" | sed 's/^/  /' | head -4
    if [ "${SCHED:-0}" = 1 ]; then
      wait "$PERF_PID"
      python3 scripts/lib/sched_delays.py "$WORK/sched.data" "$PID" "$GEN" | sed 's/^/  /'
    fi
    kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  done
done
