#!/usr/bin/env bash
# Swarm: AGENTS agents (8) fetch one FILE (512 MiB) at the same time, every node in a network namespace of its
# own on one bridge, uploads capped with tbf (400mbit). CAPS says whose upload is capped:
#   all    (default) - every node's: origin, seed peer and agents alike, as on a real cluster's network cards;
#   origin           - only the origin's (the seed's and the agents' uplinks are free);
#   mixed            - every node's, half of the agents at a quarter of the rate.
# Three ways, one after the other, in the same run:
#   pollen  - scheduler, one seed peer, AGENTS dfdaemons; dfget on every agent at once;
#   curl    - AGENTS concurrent curls from the agents' namespaces;
#   aria2   - a BitTorrent swarm: opentracker, aria2c seeding from the origin's namespace (same cap),
#             AGENTS aria2c leechers (4 MiB pieces, like Pollen's at this size).
# Reports, for each, the time until every agent has the file, that time over the physical limit (file size /
# origin cap: every byte has to leave the origin once), the bytes the origin sent, and how evenly the seed and
# the agents shared the uploading (each one's bytes out through its capped link; max/mean). Needs root.
# Usage: [CAPS=all|origin|mixed] bench/swarm.sh [AGENTS] [SIZE_MIB] [RATE_MBIT] [RUNS]   (RUNS: "pollen curl aria2")
set -euo pipefail
AGENTS="${1:-8}"
SIZE_MIB="${2:-512}"
RATE_MBIT="${3:-400}"
RUNS="${4:-pollen curl aria2}"
CAPS="${CAPS:-all}"
case "$CAPS" in all|origin|mixed) ;; *) echo "CAPS=$CAPS (expected: all, origin or mixed)" >&2; exit 2 ;; esac
# The work dir (each agent's store, the origin's file, aria2's downloads) is on tmpfs unless BENCH_DIR says
# otherwise: nine "nodes" on one disk share one ext4 journal, and each agent's fsync of its finished
# 512 MiB then stalls every other agent's metadata writes (log lines, hard links, the marks) behind
# one journal commit, which no real node sees from its neighbours.
BENCH_DIR="${BENCH_DIR:-/dev/shm}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/_netns.sh"
for tool in aria2c opentracker mktorrent; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install aria2 opentracker mktorrent" >&2; exit 2; }
done
SIZE=$((SIZE_MIB << 20))
LIMIT=$(echo "$SIZE * 8 / ($RATE_MBIT * 1000000)" | bc -l)

net_create
net_add origin
net_add sched
net_add seed
for i in $(seq "$AGENTS"); do net_add "a$i"; done
limit_upload origin "${RATE_MBIT}mbit"
UPLOADERS="seed $(seq -f 'a%g' "$AGENTS" | tr '\n' ' ')"
# Each node's uplink in mbit, and the dfdaemon flag that tells Pollen so (a veth reports 10 Gbit/s).
declare -A UPLINK
if [ "$CAPS" != origin ]; then
  UPLINK[seed]=$RATE_MBIT
  for i in $(seq "$AGENTS"); do
    UPLINK[a$i]=$RATE_MBIT
    if [ "$CAPS" = mixed ] && [ $((i % 2)) = 0 ]; then UPLINK[a$i]=$((RATE_MBIT / 4)); fi
  done
  for n in $UPLOADERS; do limit_upload "$n" "${UPLINK[$n]}mbit"; done
fi
uplink_flag() { if [ -n "${UPLINK[$1]:-}" ]; then echo "--upload.bandwidth=${UPLINK[$1]}mbit"; fi; }
random_file big.bin "$SIZE"
random_file warm.bin $((${WARM_MIB:-64} << 20))
start_origin "${NODE_IP[origin]}" 80 "$IP" netns exec "${NODE_NS[origin]}"
URL="$ORIGIN/big.bin"

MARKS="$WORK/marks"

# all_done DIR COUNT: waits until DIR holds COUNT files, then prints the newest one's content (a time).
all_done() {
  until [ "$(find "$1" -type f | wc -l)" -ge "$2" ]; do sleep 0.05; done
  cat "$1"/* | sort -n | tail -1
}

# origin_link_bytes: bytes sent so far through the origin's capped link (payload and protocol overhead).
origin_link_bytes() {
  on origin tc -s qdisc show dev eth0 | awk '/Sent/ {print $2; exit}'
}


# uploads_mark: remembers every uploader's bytes sent so far; uploads_report NAME: what each sent since, in MiB,
# and max/mean over those that can upload (the seed only in Pollen's run).
uploads_mark() { for n in $UPLOADERS; do SENT0[$n]=$(node_sent "$n"); done; }
uploads_report() {
  local name=$1 n sent line="" max=0 sum=0 count=0
  [ "$CAPS" = origin ] && return
  for n in $UPLOADERS; do
    sent=$(( $(node_sent "$n") - SENT0[$n] ))
    [ "$name" != Pollen ] && [ "$n" = seed ] && continue
    line+=" $n $((sent >> 20))"
    sum=$((sum + sent)); count=$((count + 1)); [ "$sent" -gt "$max" ] && max=$sent
  done
  echo "$name upload MiB per node:$line; max/mean $(printf %.2f "$(echo "$max * $count / $sum" | bc -l)")" >> "$WORK/notes"
}
declare -A SENT0

# log_epoch LINE: the time a Pollen log line was written, in seconds since the epoch.
log_epoch() { date -d "${1%% *}" +%s.%N; }

# ---- Pollen ----
pollen_run() {
spawn sched "$WORK/scheduler.log" "$BIN/scheduler" --listen "${NODE_IP[sched]}" --port 8002
pollen_pids=("$SPAWNED")
daemon() {
  local role=$1; shift
  spawn "$role" "$WORK/$role.log" "$BIN/dfdaemon" --download.server.socketPath="$WORK/$role.sock" \
    --storage.dir="$WORK/store-$role" --host.ip="${NODE_IP[$role]}" --upload.server.ip="${NODE_IP[$role]}" \
    --scheduler.addresses="${NODE_IP[sched]}:8002" --gc.policy.diskQuota=100GiB $(uplink_flag "$role") "$@"
  pollen_pids+=("$SPAWNED")
}
await_ready "$WORK/scheduler.log"
daemon seed --seedPeer.enable=true
for i in $(seq "$AGENTS"); do daemon "a$i"; done
for role in seed $(seq -f 'a%g' "$AGENTS"); do await_ready "$WORK/$role.log"; done
# Warm-up (the JIT, dfget's class cache): a small file through every agent.
warm=()
for i in $(seq "$AGENTS"); do
  "$BIN/dfget" "$ORIGIN/warm.bin" -O "$WORK/out/warm-$i" -e "$WORK/a$i.sock" --no-progress >/dev/null 2>&1 & warm+=($!)
done
for pid in "${warm[@]}"; do wait "$pid"; done
rm -f "$WORK/out/"*
await_dfget_cache
await_idle "${pollen_pids[@]}"
sync
sched_cpu0=$(cpu_seconds "${pollen_pids[0]}"); seed_cpu0=$(cpu_seconds "${pollen_pids[1]}")
cpu0=$(cpu_seconds "${pollen_pids[@]}")
: > "$WORK/access.log"
mkdir -p "$MARKS/done-pollen"
uploads_mark
t0=$(now)
for i in $(seq "$AGENTS"); do
  ( "$BIN/dfget" "$URL" -O "$WORK/out/p$i.bin" -e "$WORK/a$i.sock" --no-progress 2> "$WORK/summary-$i" \
      && now > "$MARKS/done-pollen/$i" ) &
done
pollen_t=$(echo "$(all_done "$MARKS/done-pollen" "$AGENTS") - $t0" | bc)
pollen_origin=$(origin_bytes /big.bin)
uploads_report Pollen
# Phases, from the seed's log (its last download is this one): when the scheduler asked it, when it had the file.
seed_at() { log_epoch "$(grep "event=$1 " "$WORK/seed.log" | tail -1)"; }
seed_start=$(echo "$(seed_at download_started) - $t0" | bc)
seed_done=$(echo "$(seed_at download_finished) - $t0" | bc)
pollen_cpu=$(echo "$(cpu_seconds "${pollen_pids[@]}") - $cpu0" | bc -l)
sched_cpu=$(echo "$(cpu_seconds "${pollen_pids[0]}") - $sched_cpu0" | bc -l)
seed_cpu=$(echo "$(cpu_seconds "${pollen_pids[1]}") - $seed_cpu0" | bc -l)
daemons_rss=$(peak_rss_mib "${pollen_pids[@]:1}")
peers_ok=0
for i in $(seq "$AGENTS"); do
  cmp -s "$WORK/out/p$i.bin" "$WORK/www/big.bin" || { echo "agent $i: output differs from the origin's file" >&2; exit 1; }
  grep -q "peers [1-9]" "$WORK/summary-$i" && peers_ok=$((peers_ok + 1))
done
rm -f "$WORK/out/"*
# Stop Pollen before the baselines so that they run on an idle machine.
for pid in "${pollen_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${pollen_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
rm -rf "$WORK"/store-*
printf '| Pollen (seed + %d agents, dfget at once) | %.2f s | %.2f | %s | %.3f |\n' "$AGENTS" "$pollen_t" \
  "$(ratio "$pollen_t" "$LIMIT")" "$(vs_aria "$pollen_t")" "$(ratio "$pollen_origin" "$SIZE")" >> "$WORK/table"
printf 'Pollen phases: the seed was asked at %.2f s (the 8 dfget JVMs starting on the same CPUs), had the file from the origin at %.2f s (%.2f s, %.1f MiB/s), the last agent at %.2f s\n' \
  "$seed_start" "$seed_done" "$(echo "$seed_done - $seed_start" | bc)" "$(echo "$SIZE_MIB / ($seed_done - $seed_start)" | bc -l)" "$pollen_t" >> "$WORK/notes"
echo "Pollen: agents with bytes from peers: $peers_ok of $AGENTS; CPU: $(printf %.1f "$pollen_cpu") s in all (scheduler $(printf %.1f "$sched_cpu") s, seed $(printf %.1f "$seed_cpu") s, agents the rest); daemons' peak RSS: $daemons_rss" >> "$WORK/notes"
}

curl_run() {
: > "$WORK/access.log"
mkdir -p "$MARKS/done-curl"
t0=$(now)
for i in $(seq "$AGENTS"); do
  ( on "a$i" curl -s -o "$WORK/out/c$i.bin" "$URL" && now > "$MARKS/done-curl/$i" ) &
done
curl_t=$(echo "$(all_done "$MARKS/done-curl" "$AGENTS") - $t0" | bc)
curl_origin=$(origin_bytes /big.bin)
rm -f "$WORK/out/"*
printf '| %d concurrent curls | %.2f s | %.2f | %s | %.3f |\n' "$AGENTS" "$curl_t" \
  "$(ratio "$curl_t" "$LIMIT")" "$(vs_aria "$curl_t")" "$(ratio "$curl_origin" "$SIZE")" >> "$WORK/table"
}

aria2_run() {
TRACKER="http://${NODE_IP[sched]}:6969/announce"
mktorrent -l 22 -a "$TRACKER" -o "$WORK/big.torrent" "$WORK/www/big.bin" >/dev/null
# Debian's opentracker chroots into its directory and only serves whitelisted torrents.
mkdir -p "$WORK/tracker"
aria2c -S "$WORK/big.torrent" | awk '/Info Hash/ {print $3}' > "$WORK/tracker/whitelist.txt"
chown -R nobody "$WORK/tracker"
spawn sched "$WORK/tracker.log" opentracker -i "${NODE_IP[sched]}" -p 6969 -P 6969 -d "$WORK/tracker" \
  -w whitelist.txt -u nobody
until on sched curl -s -o /dev/null "http://${NODE_IP[sched]}:6969/stats"; do sleep 0.05; done
BT=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true
    --file-allocation=none --summary-interval=0 --bt-tracker-interval=5 --seed-ratio=0.0 --console-log-level=warn)
aria=()
spawn origin "$WORK/aria-seed.log" aria2c "${BT[@]}" --bt-seed-unverified=true --listen-port=6881 -d "$WORK/www" \
  "$WORK/big.torrent"
aria=("$SPAWNED")
cat > "$WORK/bt-done" <<HOOK
#!/bin/sh
date +%s.%N > "$MARKS/done-bt/\$(basename "\$(dirname "\$3")")"
HOOK
chmod +x "$WORK/bt-done"
mkdir -p "$MARKS/done-bt"
sent0=$(origin_link_bytes)
uploads_mark
t0=$(now)
for i in $(seq "$AGENTS"); do
  mkdir -p "$WORK/bt/a$i"
  spawn "a$i" "$WORK/aria-a$i.log" aria2c "${BT[@]}" --listen-port=$((6881 + i)) \
    --on-bt-download-complete="$WORK/bt-done" -d "$WORK/bt/a$i" "$WORK/big.torrent"
  aria+=("$SPAWNED")
done
aria_t=$(echo "$(all_done "$MARKS/done-bt" "$AGENTS") - $t0" | bc)
aria_origin=$(($(origin_link_bytes) - sent0))
uploads_report aria2
for pid in "${aria[@]}"; do kill "$pid" 2>/dev/null || true; done
sleep 0.5
for pid in "${aria[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
for i in $(seq "$AGENTS"); do
  cmp -s "$WORK/bt/a$i/big.bin" "$WORK/www/big.bin" || { echo "aria2 leecher $i: file differs" >&2; exit 1; }
done

rm -rf "$WORK/bt"
printf '| aria2 BitTorrent swarm (the origin seeds) | %.2f s | %.2f | 1.00 | %.3f (link) |\n' "$aria_t" \
  "$(ratio "$aria_t" "$LIMIT")" "$(ratio "$aria_origin" "$SIZE")" >> "$WORK/table"
}

ratio() { echo "$1 / $2" | bc -l; }
aria_t=""
vs_aria() { if [ -n "$aria_t" ]; then printf %.2f "$(ratio "$1" "$aria_t")"; else echo -; fi; }
: > "$WORK/table"; : > "$WORK/notes"
# aria2 first, so the others can be put against its time.
for run in aria2 pollen curl; do
  case " $RUNS " in *" $run "*) "${run}_run" ;; esac
done
case "$CAPS" in
  all) caps="every node's upload capped at ${RATE_MBIT} mbit" ;;
  origin) caps="origin capped at ${RATE_MBIT} mbit" ;;
  mixed) caps="every node's upload capped, origin, seed and odd agents at ${RATE_MBIT} mbit, even agents at $((RATE_MBIT / 4))" ;;
esac
echo "| ${AGENTS} agents, ${SIZE_MIB} MiB, ${caps} (limit $(printf %.1f "$LIMIT") s), Java $JAVA_FEATURE | all done | x limit | x aria2 | origin sent (x file) |"
echo "| --- | --- | --- | --- | --- |"
cat "$WORK/table"
echo
cat "$WORK/notes"
echo "Targets (every node capped): Pollen within 1.3 x the limit and 0.75 x aria2, origin <= 1.02 x the file."
