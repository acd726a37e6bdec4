#!/usr/bin/env bash
# The machine's floor for last-N reads (issue #25): the same generator reads from Clio and
# from nginx answering every path with a recorded Clio answer, alternated, so that what a
# run's tail owes to the machine (the cores the generator shares, the hypervisor) is told
# from what it owes to Clio.
#
# Usage: scripts/bench-floor.sh [rest|flush]   (default rest)
#   rest:  10,000 series flushed and cached; Clio and nginx read in turn
#   flush: each run loads a fresh Clio as scripts/bench-flush-reads.sh does (a million new
#          series, whose flush starts during the load) and reads either Clio or nginx while
#          that flush runs, so both reads see the same load on the machine
#   RUNS=4 DUR=10 (rest) / 20 (flush) RATE=5000 N=10 CLIO=target/release/clio
#
# nginx comes from Debian's nginx package (installed when missing). It runs with two
# workers, no access log, and answers from memory (`return 200`): the cheapest server the
# generator can talk to.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/bench.sh
MODE=${1:-rest}
case "$MODE" in rest | flush) ;; *) echo "usage: $0 [rest|flush]" >&2; exit 1 ;; esac
RUNS=${RUNS:-4}; RATE=${RATE:-5000}; N=${N:-10}
DUR=${DUR:-$([ "$MODE" = rest ] && echo 10 || echo 20)}
CLIO=${CLIO:-target/release/clio}
[ -x "$CLIO" ] || { echo "no $CLIO: cargo build --release -p clio (or set CLIO)" >&2; exit 1; }
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light \
    || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WORK=$(mktemp -d /tmp/clio-floor.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"

# Clio with 10,000 series of 100 points, flushed; sets PID and URL.
clio_with_series() { # BG
  rm -rf "$WORK/data"
  port=$(free_port); URL="http://127.0.0.1:$port"
  start_clio "$WORK/data" "$port" "$WORK/clio.log"
  load_read_series "$URL" "$1"
}

# Records Clio's answers (an empty series page, one series, a last=N read) and starts nginx
# answering with them. Sets NGINX_URL and FIRST_ID.
start_nginx() {
  : >"$WORK/clio.toml"; export CLIO_CONFIG="$WORK/clio.toml"
  clio_with_series 0
  local page id
  page=$(curl -sf "$URL/api/v1/series?measurement=clio_bench&limit=1")
  id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["series"][0]["id"])' "$page")
  FIRST_ID=$id
  local empty one points
  empty=$(curl -sf "$URL/api/v1/series?measurement=no_such_measurement")
  one=$(curl -sf "$URL/api/v1/series/$id")
  points=$(curl -sf "$URL/api/v1/series/$id/points?last=$N")
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  local nport; nport=$(free_port)
  mkdir -p "$WORK/nginx"
  # The answers are JSON without single quotes, so they sit in nginx's quoted strings as
  # they are.
  cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fcgi; uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    location = /api/v1/series { return 200 '$empty'; }
    location ~ ^/api/v1/series/[0-9]+\$ { return 200 '$one'; }
    location ~ ^/api/v1/series/[0-9]+/points\$ { return 200 '$points'; }
  }
}
CONF
  "$NGINX" -c "$WORK/nginx.conf"
  NGINX_URL="http://127.0.0.1:$nport"
  wait_http "$NGINX_URL/api/v1/series/$id"
}

# One run of the generator against TARGET (clio or nginx); prints its percentiles and steal.
read_run() { # LABEL URL EXTRA...
  local label=$1 url=$2; shift 2
  local c0 c1
  c0=$(cpu_ticks)
  "$CLIO" bench query --server "$url" -r "$RATE" -s 10000 -d "$DUR" -n "$N" --json "$@" \
    >"$WORK/q.json"
  c1=$(cpu_ticks)
  echo "$label: $(field "$WORK/q.json" "f\"p50 {d['latency_ms']['p50']:.3f} ms, p99 {d['latency_ms']['p99']:.3f} ms, p99.9 {d['latency_ms']['p999']:.3f} ms, max {d['latency_ms']['max']:.1f} ms\""), machine steal $(steal_pct "$c0" "$c1") %"
}

start_nginx
if [ "$MODE" = rest ]; then
  clio_with_series 0
  wait_flushed "$URL"
  # Once over every series, so that the runs read from the cache.
  "$CLIO" bench query --server "$URL" -r "$RATE" -s 10000 -d 3 -n "$N" >/dev/null
  for r in $(seq "$RUNS"); do
    read_run "run $r, clio " "$URL"
    read_run "run $r, nginx" "$NGINX_URL" --first-id "$FIRST_ID"
  done
else
  printf '[cache]\nflush_unflushed_points = 1500000\n' >"$WORK/clio.toml"
  export CLIO_CONFIG="$WORK/clio.toml"
  for r in $(seq "$RUNS"); do
    for target in clio nginx; do
      clio_with_series 1000000
      if [ "$target" = clio ]; then
        read_run "run $r, clio  (while it flushes)" "$URL"
      else
        read_run "run $r, nginx (while clio flushes)" "$NGINX_URL" --first-id "$FIRST_ID"
      fi
      kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    done
  done
fi
