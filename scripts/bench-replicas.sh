#!/usr/bin/env bash
# Ingest over HTTP with 0, 1 and 2 SQLite replicas and with one replica down, side by side in
# one run (the server's own `clio bench ingest-http`), then the catch-up rate of a replica that
# was down while N points were written. Release build; results go to stdout as Markdown rows.
#
#   ./scripts/bench-replicas.sh [SECONDS_PER_RUN] [CATCH_UP_POINTS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-20}
CATCHUP=${2:-10000000}
cargo build --release -p clio >/dev/null
BIN=$PWD/target/release/clio
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# config NAME REPLICAS [DOWN]: writes $WORK/NAME.toml
config() {
  local f=$WORK/$1.toml
  cat >"$f" <<EOF
[cache]
cache_service_interval = 5
[[storage.backends]]
name = "main"
type = "sqlite"
file = "clio.db"
EOF
  for i in $(seq 1 "$2"); do
    local path="replica$i" rel=true
    if [ "${3:-}" = down ] && [ "$i" = 1 ]; then path=/dev/null/replica; rel=false; fi
    cat >>"$f" <<EOF
[[storage.backends]]
name = "r$i"
type = "sqlite"
path = "$path"
relative = $rel
file = "history.db"
EOF
  done
  echo "$f"
}

start() { # CONFIG DATA_DIR -> sets PID, HTTP
  local out=$WORK/serve.out
  CLIO_LOG=warn "$BIN" serve --config "$1" --data-dir "$2" --http 127.0.0.1:0 --tcp "" >"$out" 2>>"$WORK/serve.err" &
  PID=$!
  for _ in $(seq 1 200); do
    if grep -q 'clio listening' "$out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  HTTP=$(grep -o 'http=[^ ]*' "$out" | cut -d= -f2)
}

stop() { kill -TERM "$PID"; wait "$PID" || true; }

lag() { curl -s "http://$HTTP/api/v1/storage" | jq -r '[.backends[1:][] | .lag_points] | add // 0'; }

echo "| replicas | points/s | ack p50 ms | ack p99 ms |"
echo "|---|---|---|---|"
for setup in "0" "1" "2" "1 down"; do
  set -- $setup
  cfg=$(config "r$1${2:-}" "$1" "${2:-}")
  data=$WORK/data-$1${2:-}
  start "$cfg" "$data"
  r=$("$BIN" bench ingest-http --server "http://$HTTP" -d "$SECS" -c 4 -b 5000 -s 10000 --json)
  stop
  echo "| $setup | $(jq -r '.requests_per_s * 5000 | floor' <<<"$r") | $(jq -r '.latency_ms.p50' <<<"$r") | $(jq -r '.latency_ms.p99' <<<"$r") |"
done

# Catch-up: a replica that follows, then is down while CATCHUP points are written.
data=$WORK/catchup
up=$(config up 1)
start "$up" "$data"
"$BIN" bench ingest-http --server "http://$HTTP" -d 2 -c 2 -b 5000 -s 10000 --json >/dev/null
stop
down=$(config down 1 down)
# Same replica name, its path unreachable: the cursor holds the log.
start "$down" "$data"
t0=$(date +%s.%N)
"$BIN" bench ingest-http --server "http://$HTTP" -d 3600 -c 4 -b 5000 -s 10000 --json >/dev/null &
BENCH=$!
written() { curl -s "http://$HTTP/metrics" | awk '/^clio_points_written_total[ {]/ {printf "%d", $NF}'; }
while [ "$(written)" -lt "$CATCHUP" ]; do sleep 0.5; done
kill "$BENCH" 2>/dev/null || true
wait "$BENCH" 2>/dev/null || true
written=$(written)
held=$(lag)
stop
start "$up" "$data"
t1=$(date +%s.%N)
while :; do
  l=$(lag)
  s=$(curl -s "http://$HTTP/api/v1/storage" | jq -r '.backends[1].lag_seconds')
  if [ "$l" = 0 ] && [ "$s" = 0 ]; then break; fi
  sleep 0.2
done
t2=$(date +%s.%N)
stop
awk -v n="$held" -v a="$t1" -v b="$t2" -v w="$written" 'BEGIN {
  printf "\ncatch-up: %d points held for the replica (%d written while it was down) applied in %.1f s = %.0f points/s\n", n, w, b - a, n / (b - a) }'
