#!/usr/bin/env bash
# Encryption at rest off against on, alternating, with one clio binary (release build):
# each round starts a fresh server (on: CLIO_DATA_KEY set), runs
#   clio bench ingest-http -c 4 -b 5000 -s 10000 -d 10
# stops it (a clean stop flushes every point into sealed chunks), starts it again (the cache
# starts cold, so reads go to the stored chunks) and runs
#   clio bench query -n 10 -r 200 -s 10000 -d 10   and   -n 1000 -r 50 -d 10
# Usage: scripts/bench-atrest.sh target/release/clio [ROUNDS]
set -euo pipefail
BIN=$1; ROUNDS=${2:-2}
WORK=$(mktemp -d /tmp/clio-atrest.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=18900
serve() { # DIR MODE -> sets URL, PID
  port=$((port + 2))
  if [ "$2" = on ]; then
    CLIO_DATA_KEY=$KEY "$BIN" serve --data-dir "$1" --http 127.0.0.1:$port --tcp 127.0.0.1:$((port + 1)) >>"$1.log" 2>&1 &
  else
    env -u CLIO_DATA_KEY "$BIN" serve --data-dir "$1" --http 127.0.0.1:$port --tcp 127.0.0.1:$((port + 1)) >>"$1.log" 2>&1 &
  fi
  PID=$!
  URL=http://127.0.0.1:$port
  for _ in $(seq 150); do curl -sf "$URL/health" >/dev/null && return; sleep 0.2; done
  echo "server did not start" >&2; cat "$1.log" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
line() { grep -E "^(points|latency|requests)" | tr -s ' ' | paste -sd' ' -; }
for r in $(seq "$ROUNDS"); do
  for mode in off on; do
    d="$WORK/$mode-$r"; mkdir -p "$d"
    serve "$d" $mode
    echo "round $r $mode ingest: $("$BIN" bench ingest-http --server "$URL" -c 4 -b 5000 -s 10000 -d 10 | line)"
    stop
    serve "$d" $mode
    echo "round $r $mode query last=10: $("$BIN" bench query --server "$URL" -n 10 -r 200 -s 10000 -d 10 | line)"
    echo "round $r $mode query last=1000: $("$BIN" bench query --server "$URL" -n 1000 -r 50 -s 10000 -d 10 | line)"
    stop
    echo "round $r $mode store: $(du -sm "$d/clio.db" | cut -f1) MiB"
  done
done
