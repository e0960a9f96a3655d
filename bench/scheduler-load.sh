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
bin/scheduler --listen 127.0.0.1 --port "$PORT" > "$LOG" 2>&1 & SCHED=$!
trap 'kill $SCHED 2>/dev/null; wait $SCHED 2>/dev/null; rm -f "$LOG"' EXIT
until grep -q "event=ready" "$LOG"; do sleep 0.1; done
# A warm-up pass so the scheduler's JIT has compiled the hot paths, then the measured pass.
"$JAVA" -cp "scheduler/target/pollen-scheduler.jar:scheduler/target/lib/*" bench/SchedulerLoad.java "127.0.0.1:$PORT" 200 20 16 >/dev/null
"$JAVA" -cp "scheduler/target/pollen-scheduler.jar:scheduler/target/lib/*" bench/SchedulerLoad.java "127.0.0.1:$PORT" "${1:-1000}" "${2:-100}" "${3:-64}"
