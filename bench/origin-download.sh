#!/usr/bin/env bash
# Downloads from the origin (issue 2's benchmark): a local nginx serves a random file (1 GiB by
# default); in one run this measures, ROUNDS times each, median wall times of
#   curl -o            (the baseline, same disk)
#   dfget cold         (a new task each round: a fresh tag)
#   dfget stored       (the same task again, served from the daemon's store)
#   dfget small stored (a 4 KiB file already stored: the CLI's start-up cost)
# and the daemon's peak RSS (VmHWM) over the whole run. Prints a Markdown table.
# Usage: bench/origin-download.sh [SIZE_MIB] [ROUNDS]
set -euo pipefail
SIZE_MIB="${1:-1024}"
ROUNDS="${2:-3}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
random_file big.bin "$((SIZE_MIB << 20))"
random_file small.bin 4096
start_origin

SOCKET="$WORK/dfdaemon.sock"
"$BIN/dfdaemon" --download.server.socketPath="$SOCKET" --storage.dir="$WORK/store" \
  --gc.policy.diskQuota=100GiB > "$WORK/dfdaemon.log" 2>&1 & DAEMON=$!; pids+=($DAEMON)
await_ready "$WORK/dfdaemon.log"
URL="$ORIGIN/big.bin"

# Warm-up: the origin file into the page cache, dfget's class cache built, the daemon's JIT warmed.
curl -s -o /dev/null "$URL"
"$BIN/dfget" "$ORIGIN/small.bin" -O "$WORK/out/warm" -e "$SOCKET" --no-progress >/dev/null 2>&1
"$BIN/dfget" "$URL" -O "$WORK/out/warm.big" -e "$SOCKET" --tag warmup --no-progress >/dev/null 2>&1
rm -f "$WORK/out/"*
await_dfget_cache

curl_t=(); cold_t=(); stored_t=(); small_t=()
for r in $(seq "$ROUNDS"); do
  curl_t+=("$(timed curl -s -o "$WORK/out/curl.bin" "$URL")"); rm -f "$WORK/out/curl.bin"; sync
  cold_t+=("$(timed "$BIN/dfget" "$URL" -O "$WORK/out/cold.bin" -e "$SOCKET" --tag "round-$r" --no-progress)")
  cmp -s "$WORK/out/cold.bin" "$WORK/www/big.bin" || { echo "cold download differs" >&2; exit 1; }
  rm -f "$WORK/out/cold.bin"; sync
  stored_t+=("$(timed "$BIN/dfget" "$URL" -O "$WORK/out/stored.bin" -e "$SOCKET" --tag "round-$r" --no-progress)")
  rm -f "$WORK/out/stored.bin"; sync
  small_t+=("$(timed "$BIN/dfget" "$ORIGIN/small.bin" -O "$WORK/out/small.bin" -e "$SOCKET" --no-progress)")
  rm -f "$WORK/out/small.bin"
done
RSS_KIB=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON/status")

c=$(printf '%s\n' "${curl_t[@]}" | median)
k=$(printf '%s\n' "${cold_t[@]}" | median)
s=$(printf '%s\n' "${stored_t[@]}" | median)
m=$(printf '%s\n' "${small_t[@]}" | median)
echo "| measure (${SIZE_MIB} MiB, median of $ROUNDS, Java $JAVA_FEATURE) | wall | ratio to curl | target |"
echo "| --- | --- | --- | --- |"
printf '| curl -o (baseline) | %.2f s | 1.00 | |\n' "$c"
printf '| dfget cold (from nginx) | %.2f s | %.2f | <= 1.15 |\n' "$k" "$(echo "$k / $c" | bc -l)"
printf '| dfget stored | %.2f s | %.2f | <= 0.5 |\n' "$s" "$(echo "$s / $c" | bc -l)"
printf '| dfget small stored file (4 KiB) | %.2f s | | <= 0.5 s |\n' "$m"
printf '| dfdaemon peak RSS (VmHWM) | %d MiB | | <= 256 MiB |\n' "$((RSS_KIB / 1024))"
