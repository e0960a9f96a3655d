#!/usr/bin/env bash
# Scheduler throughput (issue 3): simulated peers (bench/SchedulerLoad.java, one load process) against
# a real scheduler process: messages handled per second, schedule-decision latency p50/p99.
# Usage: bench/scheduler-load.sh [PEERS] [TASKS] [PIECES]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../bin/_java"
cd "$POLLEN_HOME"
[ -f scheduler/target/pollen-scheduler.jar ] || bin/build
PORT=$((20000 + RANDOM % 20000))
LOG="$(mktemp)"
# The scheduler logs its own decision latency (inside the service, per second here): read after the run.
bin/scheduler --listen 127.0.0.1 --port "$PORT" --stats-interval-seconds=1 > "$LOG" 2>&1 & SCHED=$!
trap 'kill $SCHED 2>/dev/null; wait $SCHED 2>/dev/null || true; rm -f "$LOG"' EXIT
until grep -q "event=ready" "$LOG"; do sleep 0.1; done
# A warm-up pass so the scheduler's JIT has compiled the hot paths, then the measured pass.
"$JAVA" -cp "scheduler/target/pollen-scheduler.jar:scheduler/target/lib/*" bench/SchedulerLoad.java "127.0.0.1:$PORT" 200 20 16 >/dev/null
sleep 1.5  # the warm-up's last latency window is logged before the measured pass starts
MARK=$(wc -l < "$LOG")
"$JAVA" -cp "scheduler/target/pollen-scheduler.jar:scheduler/target/lib/*" bench/SchedulerLoad.java "127.0.0.1:$PORT" "${1:-1000}" "${2:-100}" "${3:-64}"
sleep 1.5
tail -n +"$((MARK + 1))" "$LOG" | grep -o 'decisions=[0-9]* p50_us=[0-9]* p99_us=[0-9]* max_us=[0-9]*' | tr '=' ' ' |
  awk '{n += $2; if ($4 > p50) p50 = $4; if ($6 > p99) p99 = $6; if ($8 > max) max = $8}
       END {printf "| schedule decision inside the scheduler (%d decisions; worst 1 s window) p50 / p99 / max | %.3f / %.3f / %.3f ms |\n", n, p50 / 1000, p99 / 1000, max / 1000}'
