#!/usr/bin/env bash
# Runs the same loads against two clio binaries, alternating, to show a change did or did
# not move the numbers. Each binary drives its own server with its own `clio bench`.
# Usage: scripts/bench-ab.sh BIN_A BIN_B [ROUNDS]
#   ingest: clio bench ingest-http -c 4 -b 5000 -s 10000 -d 15 (fresh data directory)
#   fn:     10 series filled by ingest-http -c 1 -b 5000 -s 10 -d 6, then
#           clio bench fn --function avg --fn-args '#10' -r 2000 -d 10 and
#           clio bench query -n 10 -r 2000 -d 10
set -euo pipefail
A=$1; B=$2; ROUNDS=${3:-2}
WORK=$(mktemp -d /tmp/clio-ab.XXXXXX)
trap 'pkill -f "clio-ab-serve" 2>/dev/null || true; rm -rf "$WORK"' EXIT
port=18800
serve() { # BIN DIR -> sets URL, PID
  port=$((port + 2))
  "$1" serve --data-dir "$2" --http 127.0.0.1:$port --tcp 127.0.0.1:$((port + 1)) \
    >"$2.log" 2>&1 &
  PID=$!
  URL=http://127.0.0.1:$port
  for _ in $(seq 100); do curl -sf "$URL/health" >/dev/null && return; sleep 0.2; done
  echo "server did not start" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; }
line() { grep -E "^(points|latency|requests)" | tr -s ' ' | paste -sd' ' -; }
for r in $(seq "$ROUNDS"); do
  for name in A B; do
    bin=$A; [ $name = B ] && bin=$B
    d="$WORK/$name-$r-ingest"; mkdir -p "$d"; serve "$bin" "$d"
    echo "round $r $name ingest: $("$bin" bench ingest-http --server "$URL" -c 4 -b 5000 -s 10000 -d 15 | line)"
    stop
    d="$WORK/$name-$r-fn"; mkdir -p "$d"; serve "$bin" "$d"
    "$bin" bench ingest-http --server "$URL" -c 1 -b 5000 -s 10 -d 6 >/dev/null
    echo "round $r $name fn avg(#10): $("$bin" bench fn --server "$URL" --function avg --fn-args '#10' -r 2000 -d 10 | line)"
    echo "round $r $name query last=10: $("$bin" bench query --server "$URL" -n 10 -r 2000 -d 10 | line)"
    stop
  done
done
