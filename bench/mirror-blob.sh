#!/usr/bin/env bash
# The registry mirror's data path alone (issue 10): one blob of MIB (128) MiB of random bytes in the distribution
# registry on loopback, fetched ROUNDS (3) times each way, alternating: `direct` with curl from the registry, `mirror`
# with curl through a dfdaemon's mirror (back to source, since no peer has it). Each mirror round on a
# fresh daemon and store, after a 4 MiB blob went the same way (warm-up); then a second blob through the same daemon
# (the steady state: the JIT done with the data path). Reports the times, the daemon's CPU seconds for each blob and
# its peak RSS. No containerd, no namespaces: where bench/mirror.sh times a whole pull, this times the mirror.
# Usage: bench/mirror-blob.sh [MIB] [ROUNDS]
set -euo pipefail
MIB="${1:-128}"
ROUNDS="${2:-3}"
BENCH_DIR="${BENCH_DIR:-/dev/shm}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
command -v docker-registry >/dev/null || { echo "docker-registry is missing: apt-get install docker-registry" >&2; exit 2; }

PORT=$((30000 + RANDOM % 2700)) # below the ephemeral ports (32768-60999), which outgoing connections take
REG="127.0.0.1:$PORT"
MIRROR="127.0.0.1:$((20000 + RANDOM % 10000))"
registry_config "$WORK/registry.yml" "$REG"
docker-registry serve "$WORK/registry.yml" > "$WORK/registry.log" 2>&1 &
pids+=($!)
await_http $! "$WORK/registry.log" "http://$REG/v2/"
# push NAME MIB: a blob of random bytes, monolithic upload; prints its digest.
push() {
  head -c $(($2 << 20)) /dev/urandom > "$WORK/$1"
  local digest location
  digest="sha256:$(sha256sum "$WORK/$1" | cut -d' ' -f1)"
  location=$(curl -s -D - -o /dev/null -X POST "http://$REG/v2/bench/blob/blobs/uploads/" | tr -d '\r' \
    | awk 'tolower($1) == "location:" {print $2}')
  case "$location" in http*) ;; *) location="http://$REG$location" ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$WORK/$1" "$location&digest=$digest" -o /dev/null
  echo "$digest"
}
WARM=$(push warm 4)
BLOB=$(push blob "$MIB")
SECOND=$(push second "$MIB")
# get URL: curl's total time, failing on a short or wrong body.
get() { curl -sf -o /dev/null -w '%{time_total}' "$1"; }

start_scheduler
await_ready "$WORK/scheduler.log"
declare -A T
CPU="" CPU2="" T2=""
for r in $(seq "$ROUNDS"); do
  T[direct]+="$(get "http://$REG/v2/bench/blob/blobs/$BLOB") "
  rm -rf "$WORK/store-1"
  start_agent 1 --gc.policy.diskQuota=100GiB --proxy.server.enable=true --proxy.registryMirror.insecureRegistries="$REG" \
    --proxy.server.port="${MIRROR#*:}"
  daemon=$!
  await_ready "$WORK/agent-1.log"
  get "http://$MIRROR/v2/bench/blob/blobs/$WARM?ns=$REG" >/dev/null
  await_idle "$daemon"
  c0=$(cpu_seconds "$daemon")
  T[mirror]+="$(get "http://$MIRROR/v2/bench/blob/blobs/$BLOB?ns=$REG") "
  c1=$(cpu_seconds "$daemon")
  T2+="$(get "http://$MIRROR/v2/bench/blob/blobs/$SECOND?ns=$REG") "
  CPU+="$(printf %.2f "$(echo "$c1 - $c0" | bc -l)") "
  CPU2+="$(printf %.2f "$(echo "$(cpu_seconds "$daemon") - $c1" | bc -l)") "
  RSS=$(peak_rss_mib "$daemon")
  kill "$daemon"; wait "$daemon" 2>/dev/null || true
done
direct=$(printf '%s\n' ${T[direct]} | median)
mirror=$(printf '%s\n' ${T[mirror]} | median)
printf '%s MiB blob, median of %s: direct %.2f s, mirror %.2f s (%.2fx)   [direct: %s| mirror: %s]\n' "$MIB" "$ROUNDS" \
  "$direct" "$mirror" "$(echo "$mirror / $direct" | bc -l)" "${T[direct]}" "${T[mirror]}"
echo "  the daemon's CPU for it: ${CPU}s; for a second blob right after (times ${T2}s): ${CPU2}s; peak RSS (last round): $RSS"
