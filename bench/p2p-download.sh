#!/usr/bin/env bash
# Peer to peer (issue 3's first benchmark): a file (1 GiB by default) is stored on agent A; agent B
# fetches it through P2P (the scheduler names A as parent; piece bytes over Vortex). Compared, in the
# same run, with curl -o of the same file from nginx to the same disk. Two agents on one machine use
# loopback addresses 127.0.0.2 and 127.0.0.3 (each its own host id). Median of ROUNDS; a new tag per
# round makes a new task. Prints a Markdown table.
# Usage: bench/p2p-download.sh [SIZE_MIB] [ROUNDS]
set -euo pipefail
SIZE_MIB="${1:-1024}"
ROUNDS="${2:-3}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
random_file big.bin "$((SIZE_MIB << 20))"
start_origin
start_scheduler

start_agent 2 --gc.policy.diskQuota=100GiB; A=$!
start_agent 3 --gc.policy.diskQuota=100GiB; B=$!
await_ready "$WORK/agent-2.log"
await_ready "$WORK/agent-3.log"
URL="$ORIGIN/big.bin"

curl -s -o /dev/null "$URL"
"$BIN/dfget" "$URL" -O "$WORK/out/warm" -e "$WORK/2.sock" --tag warm --no-progress >/dev/null 2>&1
"$BIN/dfget" "$URL" -O "$WORK/out/warm-b" -e "$WORK/3.sock" --tag warm --no-progress >/dev/null 2>&1
rm -f "$WORK/out/"*
await_dfget_cache

curl_t=(); p2p_t=(); peer_share=()
for r in $(seq "$ROUNDS"); do
  curl_t+=("$(timed curl -s -o "$WORK/out/curl.bin" "$URL")"); rm -f "$WORK/out/curl.bin"; sync
  "$BIN/dfget" "$URL" -O "$WORK/out/a.bin" -e "$WORK/2.sock" --tag "round-$r" --no-progress >/dev/null 2>&1
  rm -f "$WORK/out/a.bin"; sync
  t0=$(now)
  "$BIN/dfget" "$URL" -O "$WORK/out/b.bin" -e "$WORK/3.sock" --tag "round-$r" --no-progress 2> "$WORK/b.summary"
  p2p_t+=("$(echo "$(now) - $t0" | bc)")
  cmp -s "$WORK/out/b.bin" "$WORK/www/big.bin" || { echo "P2P download differs" >&2; exit 1; }
  grep -o "peers [0-9.]* [KMG]iB" "$WORK/b.summary" >> "$WORK/peer-bytes" || true
  rm -f "$WORK/out/b.bin"; sync
done
# Control plane under load: A's local API answers health checks while it uploads a fresh task to B.
"$BIN/dfget" "$URL" -O "$WORK/out/a.bin" -e "$WORK/2.sock" --tag health --no-progress >/dev/null 2>&1
"$JAVA" -cp "$POLLEN_JAR" "$POLLEN_HOME/bench/HealthLatency.java" "$WORK/2.sock" 6 > "$WORK/health.txt" 2>/dev/null &
HEALTH=$!
sleep 1
"$BIN/dfget" "$URL" -O "$WORK/out/b.bin" -e "$WORK/3.sock" --tag health --no-progress >/dev/null 2>&1
wait $HEALTH
RSS_A=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$A/status")
RSS_B=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$B/status")
c=$(printf '%s\n' "${curl_t[@]}" | median)
p=$(printf '%s\n' "${p2p_t[@]}" | median)
echo "| measure (${SIZE_MIB} MiB, median of $ROUNDS, Java $JAVA_FEATURE) | value | ratio to curl | target |"
echo "| --- | --- | --- | --- |"
printf '| curl -o from nginx (baseline) | %.2f s | 1.00 | |\n' "$c"
printf '| dfget on B, every piece from A over P2P | %.2f s | %.2f | <= 1.1 |\n' "$p" "$(echo "$p / $c" | bc -l)"
printf '| B: bytes from peers per round | %s | | all |\n' "$(sort -u "$WORK/peer-bytes" | tr '\n' ' ')"
printf '| peak RSS of A (uploading) / B (downloading) | %d / %d MiB | | <= 256 MiB |\n' "$RSS_A" "$RSS_B"
cat "$WORK/health.txt"
