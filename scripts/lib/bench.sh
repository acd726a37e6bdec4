# Helpers shared by the side-by-side bench scripts (sourced, not run).

# A free TCP port on 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 30 s for URL to answer 2xx.
wait_http() { # URL
  for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 did not answer" >&2; exit 1
}

# Starts `$CLIO serve` on data directory DIR, HTTP on 127.0.0.1:PORT and no TCP, its output
# appended to LOG; sets PID and returns once /health answers (exits with the end of LOG if it
# never does).
start_clio() { # DIR PORT LOG
  "$CLIO" serve --data-dir "$1" --http "127.0.0.1:$2" --tcp "" >>"$3" 2>&1 &
  PID=$!
  for _ in $(seq 3000); do curl -sf -o /dev/null "http://127.0.0.1:$2/health" && return 0; sleep 0.05; done
  echo "clio did not answer /health; the end of its log ($3):" >&2; tail -20 "$3" >&2; exit 1
}

# Prints a Python expression over the JSON file's object `d`.
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# Starts Debian's influxd (1.x) with a temporary config: data, meta and WAL under DIR, HTTP
# on a free port, reporting and self-monitoring off. Sets INFLUX_PORT and INFLUX_PID; its
# output goes to LOG.
start_influxd() { # DIR LOG
  local d=$1 rpc
  mkdir -p "$d"; INFLUX_PORT=$(free_port); rpc=$(free_port)
  cat >"$d.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$d/meta"
[data]
  dir = "$d/data"
  wal-dir = "$d/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$INFLUX_PORT"
  log-enabled = false
[monitor]
  store-enabled = false
[logging]
  level = "error"
CONF
  influxd -config "$d.conf" >"$2" 2>&1 &
  INFLUX_PID=$!
  wait_http "http://127.0.0.1:$INFLUX_PORT/ping"
}

# The CPU time counters of the whole machine: "total steal" in clock ticks. Steal is time the
# hypervisor gave our vCPUs to someone else; a vCPU taken away for milliseconds holds every
# request queued on it, so a run's tail is read beside it (BENCHMARKS.md, session 19).
cpu_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $9}' /proc/stat; }

# The machine's steal between two cpu_ticks readings, in per cent with one decimal.
steal_pct() { # TICKS0 TICKS1
  local t0 s0 t1 s1
  read -r t0 s0 <<<"$1"; read -r t1 s1 <<<"$2"
  awk -v s=$((s1 - s0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.1f", 100 * s / (t > 0 ? t : 1)}'
}

# The server's handler-side latency histogram of HTTP points reads (cumulative buckets).
points_read_hist() { # URL
  curl -sf "$1/metrics" | grep 'request_duration_seconds_bucket' | grep 'op="points_read"' | grep 'proto="http"' || true
}

# Between two cpu_ticks and two points_read_hist readings: the machine's steal and the share
# of the reads under 391 us and under 977 us in the handler.
run_context() { # TICKS0 TICKS1 HIST0 HIST1
  echo "machine steal $(steal_pct "$1" "$2") %; in the handler: $(python3 - "$3" "$4" <<'PY'
import re, sys
def buckets(text):
    return {float(re.search(r'le="([^"]+)"', l).group(1)): float(l.split()[-1]) for l in text.splitlines() if 'le="' in l}
b0, b1 = buckets(sys.argv[1]), buckets(sys.argv[2])
d = {le: b1[le] - b0.get(le, 0) for le in b1}
total = d.get(float("inf"), 0)
share = lambda le: next((100 * v / total for k, v in sorted(d.items()) if k >= le), 0) if total else float("nan")
print(f"{share(0.00039):.2f} % under 391 us, {share(0.00097):.2f} % under 977 us")
PY
)"
}

# The read benchmarks' data through `$CLIO bench ingest-http`: BG series of one point each
# (measurement `bg`, none when 0) and 10,000 series of 100 points (`clio_bench`, what
# `bench query` reads).
load_read_series() { # URL BG
  if [ "$2" -gt 0 ]; then
    "$CLIO" bench ingest-http --server "$1" -c 4 -b 5000 -s "$2" --points "$2" -d 2h \
      --measurement bg >/dev/null
  fi
  "$CLIO" bench ingest-http --server "$1" -c 4 -b 5000 -s 10000 --points 1000000 -d 2h >/dev/null
}

# The server's unflushed points (`/health`).
unflushed_points() { # URL
  curl -sf "$1/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["unflushed_points"])'
}

# Waits up to 600 s for the flush to have stored every point.
wait_flushed() { # URL
  for _ in $(seq 600); do
    [ "$(unflushed_points "$1")" = 0 ] && return 0
    sleep 1
  done
}
