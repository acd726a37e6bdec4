#!/usr/bin/env bash
# Backups at scale: a server is loaded with POINTS points (SERIES series, default 10,000, noisy
# values, the server's own `clio bench ingest-http --points`), then: a full online backup
# (time, size), 1 % new points appended to every series (later timestamps, line protocol
# over curl) and an incremental backup (size), ingest with a backup running against ingest
# idle (each into new series of its own, for the same work), and restores of the full backup
# and of the chain. Results to stdout as Markdown rows; the work directory is removed at the
# end (KEEP=1 keeps it).
#
#   ./scripts/bench-backup.sh [POINTS] [SERIES]   (CLIO_BIN=... to use another binary;
#                                                  WORK_DIR=... for the data, default /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
POINTS=${1:-10000000}
SERIES=${2:-10000}
if [ -z "${CLIO_BIN:-}" ]; then
  cargo build --release -p clio >/dev/null
  CLIO_BIN=$PWD/target/release/clio
fi
BIN=$CLIO_BIN
WORK=$(mktemp -d -p "${WORK_DIR:-/tmp}" clio-bench-backup.XXXXXX)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  if [ -n "${PID:-}" ]; then kill "$PID" 2>/dev/null || true; fi
  if [ -z "${KEEP:-}" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
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
stop() { kill -TERM "$PID"; wait "$PID" || true; PID=; }
flushed() { until [ "$(curl -s "http://$HTTP/health" | jq -r .unflushed_points)" = 0 ]; do sleep 0.2; done; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
dsize() { du -sb "$1" | cut -f1; }
rate() { jq -r '.points_per_s | floor' <<<"$1"; }
p99() { jq -r .latency_ms.p99 <<<"$1"; }

# N points appended to every one of the SERIES series `clio bench` wrote (same keys), one a
# second from three days ago: later than anything the load wrote (it starts a week back at
# one point a second per series), so they are new points, not rewrites.
append_points() { # N
  local per=$(( ($1 + SERIES - 1) / SERIES ))
  local from=$(( ($(date +%s) - 3 * 86400) * 1000 ))
  awk -v S="$SERIES" -v P="$per" -v T="$from" 'BEGIN {
        srand(7);
        for (k = 0; k < P; k++)
          for (i = 0; i < S; i++)
            printf "clio_bench,host=h%03d,sensor=s%06d value=%.3f %d\n", i % 100, i, 50 + 10 * rand(), T + k * 1000
      }' | split -l 5000 - "$WORK/append."
  for f in "$WORK"/append.*; do
    curl -sf -o /dev/null --data-binary @"$f" "http://$HTTP/write?db=clio_bench&precision=ms"
    rm -f "$f"
  done
}

DATA=$WORK/data
DEST=$WORK/backups
start "$DATA"
t0=$(now)
load=$("$BIN" bench ingest-http --server "http://$HTTP" -d 86400 -c 4 -b 5000 -s "$SERIES" --points "$POINTS" --json)
flushed
t1=$(now)
db=$(dsize "$DATA")
echo "| what | result |"
echo "|---|---|"
echo "| load: $(jq .points <<<"$load") points into $SERIES series | $(rate "$load") points/s, $(took "$t0" "$t1") s with the last flush; data directory $db B |"
t0=$(now); full=$("$BIN" backup create "$DEST" --server "http://$HTTP" --json); t1=$(now)
full_s=$(took "$t0" "$t1")
echo "| full online backup | $full_s s, $(jq '[.files[].stored_bytes] | add' <<<"$full") B stored (snapshot $(jq .image.bytes <<<"$full") B), flushes waited $(jq .flush_pause_ms <<<"$full") ms |"
append_points $(( POINTS / 100 ))
flushed
t0=$(now); inc=$("$BIN" backup create "$DEST" --server "http://$HTTP" --incremental latest --json); t1=$(now)
echo "| incremental after 1 % new points ($(( POINTS / 100 )), appended to every series) | $(took "$t0" "$t1") s, $(jq '[.files[].stored_bytes] | add' <<<"$inc") B stored, $(jq .image.pages_stored <<<"$inc") of $(jq .image.pages <<<"$inc") blocks |"
# Ingest idle and with a full backup running, each for longer than a backup takes, each
# into 10,000 series of its own (so both do the same work: new series, appended points).
D=$(awk -v s="$full_s" 'BEGIN { d = int(s * 1.5) + 10; print (d < 20 ? 20 : d) }')
idle=$("$BIN" bench ingest-http --server "http://$HTTP" -d "$D" -c 4 -b 5000 -s 10000 --measurement idle --json)
flushed
"$BIN" bench ingest-http --server "http://$HTTP" -d "$D" -c 4 -b 5000 -s 10000 --measurement busy --json >"$WORK/busy.json" &
B=$!
sleep 2
t0=$(now); "$BIN" backup create "$DEST" --server "http://$HTTP" --json >/dev/null; t1=$(now)
wait "$B"
busy=$(cat "$WORK/busy.json")
echo "| ingest, idle (${D} s) | $(rate "$idle") points/s, p99 $(p99 "$idle") ms |"
echo "| ingest while a full backup runs (${D} s; the backup took $(took "$t0" "$t1") s of it) | $(rate "$busy") points/s, p99 $(p99 "$busy") ms |"
stop
t0=$(now); "$BIN" restore --from "$DEST/$(jq -r .id <<<"$full")" --data-dir "$WORK/r-full" >/dev/null; t1=$(now)
echo "| restore of the full backup | $(took "$t0" "$t1") s |"
rm -rf "$WORK/r-full"
t0=$(now); "$BIN" restore --from "$DEST/$(jq -r .id <<<"$inc")" --data-dir "$WORK/r-chain" >/dev/null; t1=$(now)
echo "| restore of the chain (full + incremental) | $(took "$t0" "$t1") s |"
t0=$(now); start "$WORK/r-chain"; t1=$(now)
echo "| restored server answering (log replay) | $(took "$t0" "$t1") s, $(curl -s "http://$HTTP/health" | jq .series) series |"
stop
echo "| backups directory | $(dsize "$DEST") B |"
