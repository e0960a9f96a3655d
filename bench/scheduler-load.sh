#!/usr/bin/env bash
# Scheduler throughput (issue 3): simulated peers (bench/SchedulerLoad.java, one load process) against
# a real scheduler process: messages handled per second, schedule-decision latency p50/p99.
# Usage: bench/scheduler-load.sh [PEERS] [TASKS] [PIECES]
# The scheduler gets CPU 0 and the load generator the others (taskset), as a deployed scheduler has CPU
# of its own rather than sharing it with a thousand peers; PIN=0 runs both unpinned on all CPUs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../bin/_java"
cd "$POLLEN_HOME"
[ -f scheduler/target/pollen-scheduler.jar ] || bin/build
PORT=$((20000 + RANDOM % 20000))
LOG="$(mktemp)"
SCHED_CPUS=() LOAD_CPUS=()
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  SCHED_CPUS=(taskset -c 0) LOAD_CPUS=(taskset -c "1-$(($(nproc) - 1))")
fi
load() {
  "${LOAD_CPUS[@]}" "$JAVA" -cp "scheduler/target/pollen-scheduler.jar:scheduler/target/lib/*" bench/SchedulerLoad.java "127.0.0.1:$PORT" "$@"
}
# The scheduler logs its own decision latency (inside the service, per second here): read after the run.
"${SCHED_CPUS[@]}" bin/scheduler --listen 127.0.0.1 --port "$PORT" --stats-interval-seconds=1 > "$LOG" 2>&1 & SCHED=$!
trap 'kill $SCHED 2>/dev/null; wait $SCHED 2>/dev/null || true; rm -f "$LOG"' EXIT
until grep -q "event=ready" "$LOG"; do sleep 0.1; done
# The load generator runs a warm-up pass of the same size, so that both JVMs have compiled their hot
# paths (a scheduler runs for days; the first thousand decisions of a cold JVM are not what its peers
# see), and marks the start of the measured pass on stderr.
MARKS="$(mktemp)"
load "${1:-1000}" "${2:-100}" "${3:-64}" 2 2>"$MARKS" & LOAD=$!
until grep -q measuring "$MARKS" || ! kill -0 $LOAD 2>/dev/null; do sleep 0.05; done
MARK=$(wc -l < "$LOG")
wait $LOAD
rm -f "$MARKS"
sleep 1.5  # the measured pass's last latency window
tail -n +"$((MARK + 1))" "$LOG" | grep -o 'decisions=[0-9]* p50_us=[0-9]* p99_us=[0-9]* max_us=[0-9]*' | tr '=' ' ' |
  awk '{n += $2; if ($4 > p50) p50 = $4; if ($6 > p99) p99 = $6; if ($8 > max) max = $8}
       END {printf "| schedule decision inside the scheduler (%d decisions; worst 1 s window) p50 / p99 / max | %.3f / %.3f / %.3f ms |\n", n, p50 / 1000, p99 / 1000, max / 1000}'
