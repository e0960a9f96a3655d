# Sourced by the benchmark scripts: a scratch directory cleaned up on exit with every process the
# script started, an nginx origin, a random file, and timing helpers.
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../bin/_java"
BIN="$POLLEN_HOME/bin"
[ -f "$POLLEN_JAR" ] || "$BIN/build"

WORK="$(mktemp -d "${BENCH_DIR:-/var/tmp}/pollen-bench.XXXXXX")"
chmod 755 "$WORK"
mkdir -p "$WORK/www" "$WORK/out"
chmod 755 "$WORK/www"
pids=()
# Commands run after the processes stopped and before the scratch dir goes (e.g. removing namespaces).
teardown=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  local step
  for step in "${teardown[@]}"; do eval "$step" 2>/dev/null || true; done
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# random_file NAME BYTES: a file the origin serves.
random_file() {
  head -c "$2" /dev/urandom > "$WORK/www/$1"
  chmod 644 "$WORK/www/$1"
}

# start_origin [IP PORT [LAUNCHER...]]: nginx serving $WORK/www, by default on a random loopback port,
# optionally started through LAUNCHER (e.g. ip netns exec NS); sets ORIGIN (http://IP:PORT). Its access
# log ($WORK/access.log) has the bytes sent per request last, for origin_bytes.
start_origin() {
  local ip="${1:-127.0.0.1}" port="${2:-$((30000 + RANDOM % 2700))}"
  shift 2 2>/dev/null || shift $#
  cat > "$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  log_format bytes '\$request_uri \$status \$bytes_sent';
  access_log $WORK/access.log bytes; sendfile on; tcp_nopush on;
  client_body_temp_path $WORK/tmp; proxy_temp_path $WORK/tmp; fastcgi_temp_path $WORK/tmp;
  uwsgi_temp_path $WORK/tmp; scgi_temp_path $WORK/tmp;
  server { listen $ip:$port; root $WORK/www; }
}
CONF
  "$@" "$(command -v nginx || echo /usr/sbin/nginx)" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' \
    2> "$WORK/nginx-start.log" &
  pids+=($!)
  ORIGIN="http://$ip:$port"
  await_http $! "$WORK/nginx-start.log" "$ORIGIN/" "$@"
}

# await_http PID LOG URL [PREFIX...]: until URL answers (curl run under PREFIX, e.g. a netns); the run stops, with
# LOG's last line, if the server PID exited first (a port that another process held, say).
await_http() {
  local pid=$1 log=$2 url=$3
  shift 3
  until "$@" curl -s -o /dev/null "$url"; do
    kill -0 "$pid" 2>/dev/null || { echo "${log##*/}: the server exited: $(tail -n1 "$log")" >&2; exit 1; }
    sleep 0.05
  done
}

# origin_bytes PATH: bytes the origin sent for PATH since the access log was last emptied (: > access.log).
origin_bytes() {
  awk -v p="$1" '$1 == p {s += $3} END {printf "%d\n", s}' "$WORK/access.log"
}

# await_ready LOG: until a daemon or scheduler logged its ready line; the run stops if it failed to start instead.
await_ready() {
  until grep -q "event=ready" "$1"; do
    if grep -q "event=startup_failed" "$1"; then
      echo "${1##*/}: $(grep -m1 "event=startup_failed" "$1")" >&2
      exit 1
    fi
    sleep 0.1
  done
}

# await_dfget_cache: until dfget's class cache for this build exists (built after its first run).
await_dfget_cache() {
  until [ "$JAVA_FEATURE" -lt 25 ] || [ -f "${XDG_CACHE_HOME:-$HOME/.cache}/pollen/dfget-$JAVA_FEATURE-$(stat -c %Y "$POLLEN_JAR").aot" ]; do
    sleep 0.2
  done
}

# Pollen's scheduler on loopback at SCHED_PORT, for the P2P benchmarks.
start_scheduler() {
  SCHED_PORT=$((40000 + RANDOM % 10000))
  "$BIN/scheduler" --listen 127.0.0.1 --port "$SCHED_PORT" > "$WORK/scheduler.log" 2>&1 &
  pids+=($!)
}

# Agent N on 127.0.0.N, using that scheduler; further flags after N. Its PID is in $! afterwards.
start_agent() {
  local n=$1
  shift
  "$BIN/dfdaemon" --download.server.socketPath="$WORK/$n.sock" --storage.dir="$WORK/store-$n" \
    --host.ip="127.0.0.$n" --upload.server.ip="127.0.0.$n" --upload.server.port=0 --storage.server.tcpPort=0 \
    --metrics.server.port=0 --health.server.port=0 \
    --scheduler.addresses="127.0.0.1:$SCHED_PORT" "$@" > "$WORK/agent-$n.log" 2>&1 &
  pids+=($!)
}

# cpu_seconds PID...: user + system CPU time the processes used so far.
cpu_seconds() {
  local pid total=0
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total / $(getconf CLK_TCK)" | bc -l
}

# peak_rss_mib PID...: the processes' peak resident memory (VmHWM), "max M MiB, mean N MiB".
peak_rss_mib() {
  local pid
  for pid in "$@"; do awk '/^VmHWM/ {print $2 / 1024}' "/proc/$pid/status"; done \
    | awk '{s += $1; if ($1 > m) m = $1} END {printf "max %.0f MiB, mean %.0f MiB\n", m, s / NR}'
}

# await_idle PID...: until the processes together use under a tenth of a core over a second (their JIT
# compilers done with the start and the warm-up), at most 60 s: a node agent is measured in its steady state.
await_idle() {
  local before after tries=0
  while [ $((tries++)) -lt 60 ]; do
    before=$(cpu_seconds "$@"); sleep 1; after=$(cpu_seconds "$@")
    [ "$(echo "$after - $before < 0.1" | bc -l)" = 1 ] && return
  done
  echo "warning: the daemons did not go idle within 60 s" >&2
}

now() { date +%s.%N; }
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1; echo "$(now) - $t0" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# registry_config FILE ADDR: a distribution registry's config serving on ADDR from $WORK/registry (uploads kept).
registry_config() {
  cat > "$1" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $2
  secret: pollen-bench
YML
}
