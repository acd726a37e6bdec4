#!/usr/bin/env bash
# Authentication and TLS off against on, alternating, with one clio binary: each round starts
# a fresh server and runs
#   clio bench ingest-http -c 4 -b 1000 -s 1000 -d 10   then   clio bench query -n 10 -r 300 -d 10
# "on": [auth] enabled with an unscoped admin token (--token-file) and [tls] http = true with
# a self-signed P-256 certificate (--ca-file); "off": plain HTTP, no auth.
# Usage: scripts/bench-tls.sh target/release/clio [ROUNDS]
set -euo pipefail
BIN=$1; ROUNDS=${2:-2}
WORK=$(mktemp -d /tmp/clio-tls.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench \
  -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
port=19100
serve() { # DIR MODE -> sets URL, PID, EXTRA
  port=$((port + 2))
  EXTRA=()
  if [ "$2" = on ]; then
    "$BIN" token create --data-dir "$1" --role admin --name bench >"$WORK/token"
    printf '[auth]\nenabled = true\n[tls]\ncert_file = "%s"\nkey_file = "%s"\n' \
      "$WORK/cert.pem" "$WORK/key.pem" >"$1.toml"
    URL=https://127.0.0.1:$port
    EXTRA=(--ca-file "$WORK/cert.pem" --token-file "$WORK/token")
    CURL=(--cacert "$WORK/cert.pem")
  else
    : >"$1.toml"
    URL=http://127.0.0.1:$port
    CURL=()
  fi
  "$BIN" serve --config "$1.toml" --data-dir "$1" --http 127.0.0.1:$port --tcp 127.0.0.1:$((port + 1)) >>"$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 150); do curl -sf "${CURL[@]}" "$URL/health" >/dev/null && return; sleep 0.2; done
  echo "server did not start" >&2; cat "$1.log" >&2; exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
line() { grep -E "^(points|latency|requests)" | tr -s ' ' | paste -sd' ' -; }
for r in $(seq "$ROUNDS"); do
  for mode in off on; do
    d="$WORK/$mode-$r"; mkdir -p "$d"
    serve "$d" $mode
    echo "round $r $mode ingest: $(env -u CLIO_TOKEN "$BIN" bench ingest-http --server "$URL" "${EXTRA[@]}" -c 4 -b 1000 -s 1000 -d 10 | line)"
    echo "round $r $mode query last=10: $(env -u CLIO_TOKEN "$BIN" bench query --server "$URL" "${EXTRA[@]}" -n 10 -r 300 -s 1000 -d 10 | line)"
    stop
  done
done
