#!/usr/bin/env bash
# Clio over its storage backends, side by side in one run (issue #17): the same points sent
# through Clio's HTTP front end (`clio bench ingest-http --points`) to a server whose storage
# is (1) SQLite alone, (2) InfluxDB as the primary, (3) SQLite as the primary with InfluxDB as a
# replica (the Glass AI deployment). For each: the acknowledged ingest rate and ack p99, and the
# time until the backend holds every point (nothing unflushed, every replica's lag 0), which
# gives the rate at which the backend took the points. InfluxDB is Debian's influxd, started
# here with a temporary config on free ports (installed when missing).
#
# Usage: scripts/bench-influxdb.sh [POINTS] [SERIES]        (default 2000000 1000)
#   CLIO=path/to/clio   the binary under test (default target/release/clio)
# The backend's own figures (write_points, read_last, read_range beside SQLite) come from
# `cargo test --release -p clio-storage-influxdb --test measure -- --ignored --nocapture`.
set -euo pipefail
cd "$(dirname "$0")/.."
POINTS=${1:-2000000}
SERIES=${2:-1000}
BATCH=5000
CONN=4
CLIO=${CLIO:-target/release/clio}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio (or set CLIO)" >&2; exit 1; }
if ! command -v influxd >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq influxdb
fi
WORK=$(mktemp -d /tmp/clio-bench-influx.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
source scripts/lib/bench.sh
now() { date +%s.%N; }

# One influxd for the whole run; each Clio server gets its own database.
start_influxd "$WORK/influx" "$WORK/influxd.log"
PIDS+=("$INFLUX_PID")
IPORT=$INFLUX_PORT

influx_entry() { # NAME DATABASE
  cat <<EOF
[[storage.backends]]
name = "$1"
type = "influxdb"
url = "http://127.0.0.1:$IPORT"
database = "$2"
EOF
}
sqlite_entry() {
  cat <<EOF
[[storage.backends]]
name = "main"
type = "sqlite"
EOF
}

# Seconds until /health says nothing is unflushed and /api/v1/storage says no replica lags.
drained() { # URL
  python3 - "$1" <<'PY'
import json, sys, time, urllib.request
url = sys.argv[1]
def get(p):
    with urllib.request.urlopen(url + p, timeout=30) as r:
        return json.load(r)
def lagging(s):
    n = 0
    for b in s.get("backends", []):
        n += b.get("lag_points", 0) + b.get("lag_bytes", 0) + b.get("unflushed_points", 0)
        n += b.get("pending_changes", 0)
    return n
t0 = time.time()
while True:
    h = get("/health")
    if h.get("unflushed_points", 1) == 0 and lagging(get("/api/v1/storage")) == 0:
        break
    if time.time() - t0 > 1800:
        sys.exit("not drained after 30 minutes: " + json.dumps(h))
    time.sleep(0.2)
print(f"{time.time() - t0:.2f}")
PY
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg); influxd $(influxd version 2>/dev/null | head -1)"
echo "load: $POINTS points, $SERIES series, $BATCH lines a request, $CONN connections; flushes every 5 s"
echo
echo "| storage | ingest (acked) | ack p99 | then drained in | points into the backend |"
echo "|---|---|---|---|---|"
for run in sqlite influx-primary sqlite+influx-replica; do
  d="$WORK/$run"; mkdir -p "$d"; port=$(free_port)
  {
    echo "[cache]"
    echo "cache_service_interval = 5"
    case $run in
    sqlite) sqlite_entry ;;
    influx-primary) influx_entry influx clio_primary ;;
    sqlite+influx-replica) sqlite_entry; echo; influx_entry replica clio_replica ;;
    esac
  } >"$d.toml"
  "$CLIO" serve --config "$d.toml" --data-dir "$d" --http 127.0.0.1:$port --tcp "" \
    >"$WORK/$run.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_http "http://127.0.0.1:$port/health"
  t0=$(now)
  "$CLIO" bench ingest-http --server "http://127.0.0.1:$port" -c $CONN -b $BATCH -s "$SERIES" \
    --points "$POINTS" -d 1h --interval-ms 10000 --json >"$WORK/$run.json"
  t1=$(now)
  drain=$(drained "http://127.0.0.1:$port")
  pts=$(field "$WORK/$run.json" 'd["points"]')
  printf '| %s | %.0f k pts/s | %.1f ms | %s s | %.0f k pts/s |\n' "$run" \
    "$(field "$WORK/$run.json" 'd["points_per_s"]/1000')" \
    "$(field "$WORK/$run.json" 'd["latency_ms"]["p99"]')" "$drain" \
    "$(python3 -c "print($pts / ($t1 - $t0 + $drain) / 1000)")"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
done
