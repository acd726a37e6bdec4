#!/usr/bin/env bash
# Clio, VictoriaMetrics and InfluxDB 1.x side by side on the same generated line protocol,
# one system after another on this machine (issue #25): ingest over HTTP with
# `clio bench ingest-http --points` (same seed, series, batches and connections, so every
# system gets exactly the same points), then a graceful stop, then bytes on disk.
#
# Usage: scripts/bench-vs.sh [POINTS] [SERIES]        (default 20000000 10000)
#   CLIO=path/to/clio   the binary under test (default target/release/clio; build it with
#                       `cargo build --release -p clio`)
#   SYSTEMS="clio vm influx"   which systems to run (InfluxDB only when influxd is installed)
#   INTERVAL_MS=10000   milliseconds between two points of a series (timestamps start a week
#                       back: 604800000 points over 10000 series at 10000 ms is a simulated week)
# VictoriaMetrics comes from Debian's victoria-metrics package (installed when missing).
# Clio runs with its defaults (wal.sync = "always": every acknowledged write is on disk);
# VictoriaMetrics and InfluxDB acknowledge before their data is durable.
set -euo pipefail
cd "$(dirname "$0")/.."
POINTS=${1:-20000000}
SERIES=${2:-10000}
BATCH=5000
CONN=4
INTERVAL_MS=${INTERVAL_MS:-10000}
CLIO=${CLIO:-target/release/clio}
SYSTEMS=${SYSTEMS:-"clio vm influx"}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio (or set CLIO)" >&2; exit 1; }
if [[ " $SYSTEMS " == *" vm "* ]] && ! command -v victoria-metrics >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq victoria-metrics
fi
WORK=$(mktemp -d /tmp/clio-vs.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
source scripts/lib/bench.sh
bench() { # NAME URL
  "$CLIO" bench ingest-http --server "$2" -c $CONN -b $BATCH -s "$SERIES" --points "$POINTS" \
    -d 2h --interval-ms $INTERVAL_MS --json >"$WORK/$1.json"
}
stop() { # PID -> seconds the graceful stop took
  local t0; t0=$(date +%s.%N)
  kill -TERM "$1"
  # Polled: this runs in a command substitution, which cannot `wait` for the server.
  while kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; do
    sleep 0.05
  done
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)"
}
row() { # NAME DIR STOP_S [EXCLUDED_DIR]
  local bytes excluded=0
  bytes=$(du -sb "$2" | cut -f1)
  [ -n "${4:-}" ] && [ -d "$4" ] && excluded=$(du -sb "$4" | cut -f1)
  local pts; pts=$(field "$WORK/$1.json" 'd["points"]')
  printf '| %s | %s | %.0f k | %.1f ms | %s s | %.1f MB | %.2f B/pt |\n' "$1" "$pts" \
    "$(field "$WORK/$1.json" 'd["points_per_s"]/1000')" \
    "$(field "$WORK/$1.json" 'd["latency_ms"]["p99"]')" "$3" \
    "$(python3 -c "print(($bytes - $excluded) / 1e6)")" \
    "$(python3 -c "print(($bytes - $excluded) / max(1, $pts))")"
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "load: $POINTS points, $SERIES series, $BATCH lines a request, $CONN connections, a point every ${INTERVAL_MS} ms per series"
echo
echo "| system | points | ingest | ack p99 | graceful stop | on disk | per point |"
echo "|---|---|---|---|---|---|---|"
for sys in $SYSTEMS; do
  case $sys in
  clio)
    d="$WORK/clio"; mkdir -p "$d"; port=$(free_port)
    "$CLIO" serve --data-dir "$d" --http 127.0.0.1:$port --tcp "" >"$WORK/clio.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/health"
    bench clio "http://127.0.0.1:$port"
    s=$(stop "$pid")
    # The plugins' compiled code (plugin-cache/) is not data: counted apart.
    row clio "$d" "$s" "$d/plugin-cache"
    ;;
  vm)
    d="$WORK/vm"; mkdir -p "$d"; port=$(free_port)
    victoria-metrics -storageDataPath "$d" -httpListenAddr 127.0.0.1:$port -retentionPeriod 100y \
      -loggerLevel ERROR >"$WORK/vm.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/health"
    bench vm "http://127.0.0.1:$port"
    curl -sf "http://127.0.0.1:$port/internal/force_flush" >/dev/null || true
    s=$(stop "$pid")
    row vm "$d" "$s"
    ;;
  influx)
    command -v influxd >/dev/null || { echo "| influx | (influxd not installed) |"; continue; }
    d="$WORK/influx"
    start_influxd "$d" "$WORK/influx.log"
    pid=$INFLUX_PID; PIDS+=("$pid"); port=$INFLUX_PORT
    bench influx "http://127.0.0.1:$port"
    s=$(stop "$pid")
    row influx "$d" "$s"
    ;;
  *) echo "unknown system $sys" >&2; exit 1 ;;
  esac
done
