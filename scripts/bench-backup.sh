#!/usr/bin/env bash
# Backups at scale: a server is loaded with POINTS points (SERIES series, default 10,000, noisy values, the
# server's own `clio bench ingest-http`), then: a full online backup (time, size), 1 % more
# points and an incremental backup (size), ingest with a backup running against ingest idle,
# and restores of the full backup and of the chain. Results to stdout as Markdown rows.
#
#   ./scripts/bench-backup.sh [POINTS] [SERIES]   (CLIO_BIN=... to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
POINTS=${1:-10000000}
SERIES=${2:-10000}
if [ -z "${CLIO_BIN:-}" ]; then
  cargo build --release -p clio >/dev/null
  CLIO_BIN=$PWD/target/release/clio
fi
BIN=$CLIO_BIN
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat >"$WORK/clio.toml" <<'TOML'
[cache]
cache_service_interval = 5
TOML

start() { # DATA_DIR -> sets PID, HTTP
  local out=$WORK/serve.out
  : >"$out"
  CLIO_LOG=warn "$BIN" serve --config "$WORK/clio.toml" --data-dir "$1" --http 127.0.0.1:0 --tcp "" >"$out" 2>>"$WORK/serve.err" &
  PID=$!
  for _ in $(seq 1 600); do
    if grep -q 'clio listening' "$out" 2>/dev/null; then break; fi
    sleep 0.05
  done
  HTTP=$(grep -o 'http=[^ ]*' "$out" | cut -d= -f2)
}
stop() { kill -TERM "$PID"; wait "$PID" || true; }
flushed() { until [ "$(curl -s "http://$HTTP/health" | jq -r .unflushed_points)" = 0 ]; do sleep 0.2; done; }
series_points() { curl -s "http://$HTTP/health" | jq -r .series; }
ingest() { # POINTS -> writes about that many points; prints points/s
  local secs r
  r=$("$BIN" bench ingest-http --server "http://$HTTP" -d 5 -c 4 -b 5000 -s "$SERIES" --json)
  local rate; rate=$(jq -r '.requests_per_s * 5000 | floor' <<<"$r")
  secs=$(( ($1 + rate - 1) / rate ))
  if [ "$secs" -gt 5 ]; then
    "$BIN" bench ingest-http --server "http://$HTTP" -d "$((secs - 5))" -c 4 -b 5000 -s "$SERIES" --json >/dev/null
  fi
  echo "$rate"
}
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
dsize() { du -sb "$1" | cut -f1; }

DATA=$WORK/data
DEST=$WORK/backups
start "$DATA"
ingest "$POINTS" >/dev/null
flushed
db=$(dsize "$DATA")
t0=$(now); full=$("$BIN" backup create "$DEST" --server "http://$HTTP" --json); t1=$(now)
echo "| what | result |"
echo "|---|---|"
echo "| data directory after ~$POINTS points | $db B |"
echo "| full online backup | $(took "$t0" "$t1") s, $(jq '[.files[].stored_bytes] | add' <<<"$full") B stored (snapshot $(jq .image.bytes <<<"$full") B), flushes waited $(jq .flush_pause_ms <<<"$full") ms |"
"$BIN" bench ingest-http --server "http://$HTTP" -d 1 -c 1 -b 5000 -s "$SERIES" --json >/dev/null
flushed
t0=$(now); inc=$("$BIN" backup create "$DEST" --server "http://$HTTP" --incremental latest --json); t1=$(now)
echo "| incremental after ~1 % more points | $(took "$t0" "$t1") s, $(jq '[.files[].stored_bytes] | add' <<<"$inc") B stored, $(jq .image.pages_stored <<<"$inc") of $(jq .image.pages <<<"$inc") blocks |"
idle=$("$BIN" bench ingest-http --server "http://$HTTP" -d 10 -c 4 -b 5000 -s "$SERIES" --json)
"$BIN" bench ingest-http --server "http://$HTTP" -d 10 -c 4 -b 5000 -s "$SERIES" --json >"$WORK/busy.json" &
B=$!
sleep 1
"$BIN" backup create "$DEST" --server "http://$HTTP" --json >/dev/null
wait "$B"
echo "| ingest, idle | $(jq -r '.requests_per_s * 5000 | floor' <<<"$idle") points/s, p99 $(jq -r .latency_ms.p99 <<<"$idle") ms |"
echo "| ingest while a full backup runs | $(jq -r '.requests_per_s * 5000 | floor' <"$WORK/busy.json") points/s, p99 $(jq -r .latency_ms.p99 <"$WORK/busy.json") ms |"
stop
t0=$(now); "$BIN" restore --from "$DEST/$(jq -r .id <<<"$full")" --data-dir "$WORK/r-full" >/dev/null; t1=$(now)
echo "| restore of the full backup | $(took "$t0" "$t1") s |"
t0=$(now); "$BIN" restore --from "$DEST/$(jq -r .id <<<"$inc")" --data-dir "$WORK/r-chain" >/dev/null; t1=$(now)
echo "| restore of the chain (full + incremental) | $(took "$t0" "$t1") s |"
