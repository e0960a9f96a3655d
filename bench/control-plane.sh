#!/usr/bin/env bash
# The control plane under load (issue 7): health checks and StatTask over agent A's socket, p50/p99/max,
# while A downloads from nginx at full speed and at the same time uploads to agent B over P2P; first
# without, then with `stress-ng --cpu 2` taking the CPUs. Each round A fetches a fresh task (new tag)
# from the origin while B fetches the previous round's task from A. Two agents on one machine use
# loopback addresses 127.0.0.2 and 127.0.0.3; nginx and the scheduler run on 127.0.0.1.
# Usage: bench/control-plane.sh [SIZE_MIB] [SECONDS]   (SECONDS of measurement per phase)
set -euo pipefail
SIZE_MIB="${1:-512}"
SECONDS_PER_PHASE="${2:-30}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
command -v stress-ng >/dev/null || { echo "stress-ng is not installed" >&2; exit 1; }
random_file big.bin "$((SIZE_MIB << 20))"
start_origin
start_scheduler

start_agent 2 --gc.policy.diskQuota=12GiB --gc.interval=5s; A=$!
start_agent 3 --gc.policy.diskQuota=12GiB --gc.interval=5s
await_ready "$WORK/agent-2.log"
await_ready "$WORK/agent-3.log"
URL="$ORIGIN/big.bin"
dfget() { "$BIN/dfget" "$URL" -O "$WORK/out/$1" -e "$WORK/$2.sock" --tag "$3" --no-progress --overwrite >/dev/null 2>&1; }

# A holds round 0 (the task StatTask asks about, and the first one B fetches).
dfget a0 2 round-0
rm -f "$WORK/out/"*

# The load: until stopped, A fetches round r from the origin while B fetches round r-1 from A.
load() {
  local r=1
  while [ ! -f "$WORK/stop" ]; do
    dfget a.bin 2 "round-$r" & local a=$!
    dfget b.bin 3 "round-$((r - 1))" & local b=$!
    wait $a $b || true
    rm -f "$WORK/out/"*
    r=$((r + 1))
  done
  echo "$r" > "$WORK/rounds"
}
load & LOAD=$!
pids+=("$LOAD")
teardown+=("touch $WORK/stop")
sleep 3

# The measuring client runs at a raised priority where it may (root), so that the figures are the
# daemon's and not the client's own wait for a CPU; without root it runs as it is.
PRIO=(); [ "$(id -u)" = 0 ] && PRIO=(nice -n -10)
echo "| call over A's socket, while A downloads and uploads at full speed | p50 | p99 | max | target |"
echo "| --- | --- | --- | --- | --- |"
"${PRIO[@]}" "$JAVA" -cp "$POLLEN_JAR" "$POLLEN_HOME/bench/ControlPlaneLatency.java" "$WORK/2.sock" "$SECONDS_PER_PHASE" "no other load" 2>>"$WORK/client.err" || true
stress-ng --cpu 2 --timeout "$((SECONDS_PER_PHASE + 30))s" --quiet & STRESS=$!
pids+=("$STRESS")
sleep 2
"${PRIO[@]}" "$JAVA" -cp "$POLLEN_JAR" "$POLLEN_HOME/bench/ControlPlaneLatency.java" "$WORK/2.sock" "$SECONDS_PER_PHASE" "stress-ng --cpu 2" 2>>"$WORK/client.err" || true
kill "$STRESS" 2>/dev/null || true
NICE_REPORT=$(ps -L -o nice=,comm= -p "$A" | awk '{n[$2]=$1} END {for (c in n) printf "%s=%s ", c, n[c]}')
touch "$WORK/stop"
wait $LOAD || true
echo
echo "load: $(( $(cat "$WORK/rounds") - 1 )) rounds of ${SIZE_MIB} MiB (A from nginx, B from A at once) in the run; $(nproc) CPUs; Java $JAVA_FEATURE"
grep -h "event=threads" "$WORK/agent-2.log" | sed 's/.*event=threads/A threads:/' | head -1
echo "A's threads' nice values: $NICE_REPORT"
grep -h "level=WARN\|level=ERROR" "$WORK"/agent-*.log | sed 's/^/agent: /' | cut -c1-240 | head -5 || true
grep -v -e WARNING -e '^$' "$WORK/client.err" | sort | uniq -c | sed 's/^/client: /' | head -5 || true
