#!/usr/bin/env bash
# What mutual TLS costs a P2P transfer (issue 11 §4): agent A holds a file (512 MiB by default), agent B fetches it
# from A over Vortex, first with plain TCP (sendfile), then, with new agents, over mutual TLS (the piece read in
# chunks and encrypted), in the same run and on the same machine. Certificates from openssl: a CA and one node
# certificate both agents share. Median of ROUNDS, a new task per round; B's process CPU time per round too.
# Usage: bench/p2p-tls.sh [SIZE_MIB] [ROUNDS]
set -euo pipefail
SIZE_MIB="${1:-512}"
ROUNDS="${2:-3}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
command -v openssl >/dev/null || { echo "openssl is missing: apt-get install openssl" >&2; exit 2; }
random_file big.bin "$((SIZE_MIB << 20))"
start_origin
URL="$ORIGIN/big.bin"

TLS_DIR="$WORK/tls"
mkdir -p "$TLS_DIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS_DIR/ca-key.pem" -out "$TLS_DIR/ca.pem" \
  -days 2 -subj "/CN=pollen-bench-ca" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TLS_DIR/node-key.pem" -out "$TLS_DIR/node.csr" \
  -subj "/CN=pollen-node" 2>/dev/null
openssl x509 -req -in "$TLS_DIR/node.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca-key.pem" -CAcreateserial -days 1 \
  -out "$TLS_DIR/node.pem" 2>/dev/null
TLS_FLAGS=()
for side in server client; do
  TLS_FLAGS+=("--upload.$side.caCert=$TLS_DIR/ca.pem" "--upload.$side.cert=$TLS_DIR/node.pem" "--upload.$side.key=$TLS_DIR/node-key.pem")
done

# phase NAME A B FLAGS...: agents A and B (loopback 127.0.0.A/B) under a fresh scheduler; prints "seconds cpu_seconds".
phase() {
  local name=$1 a=$2 b=$3; shift 3
  start_scheduler; local ps=$!
  start_agent "$a" --gc.policy.diskQuota=100GiB "$@"; local pa=$!
  start_agent "$b" --gc.policy.diskQuota=100GiB "$@"; local pb=$!
  await_ready "$WORK/agent-$a.log"; await_ready "$WORK/agent-$b.log"
  "$BIN/dfget" "$URL" -O "$WORK/out/warm" -e "$WORK/$a.sock" --tag "warm-$name" --no-progress >/dev/null 2>&1
  "$BIN/dfget" "$URL" -O "$WORK/out/warm-b" -e "$WORK/$b.sock" --tag "warm-$name" --no-progress >/dev/null 2>&1
  rm -f "$WORK/out/"*
  await_dfget_cache
  local times=() cpus=() r t0 c0
  for r in $(seq "$ROUNDS"); do
    "$BIN/dfget" "$URL" -O "$WORK/out/a.bin" -e "$WORK/$a.sock" --tag "$name-$r" --no-progress >/dev/null 2>&1
    rm -f "$WORK/out/a.bin"; sync
    : > "$WORK/access.log"
    c0=$(cpu_seconds "$pa" "$pb"); t0=$(now)
    "$BIN/dfget" "$URL" -O "$WORK/out/b.bin" -e "$WORK/$b.sock" --tag "$name-$r" --no-progress 2> "$WORK/$name.summary"
    times+=("$(echo "$(now) - $t0" | bc)")
    cpus+=("$(echo "$(cpu_seconds "$pa" "$pb") - $c0" | bc -l)")
    cmp -s "$WORK/out/b.bin" "$WORK/www/big.bin" || { echo "$name: the P2P download differs" >&2; exit 1; }
    [ "$(origin_bytes /big.bin)" -lt 1048576 ] || { echo "$name: B went to the origin:" >&2; cat "$WORK/$name.summary" >&2; exit 1; }
    rm -f "$WORK/out/b.bin"; sync
  done
  kill "$pa" "$pb" "$ps"; wait "$pa" "$pb" "$ps" 2>/dev/null || true
  echo "$(printf '%s\n' "${times[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median)"
}
read -r plain_t plain_cpu < <(phase plain 2 3)
read -r tls_t tls_cpu < <(phase tls 4 5 "${TLS_FLAGS[@]}")
grep -q "event=peer_tls mode=mutual" "$WORK/agent-5.log" || { echo "the TLS agents did not start with TLS" >&2; exit 1; }
echo "| P2P, ${SIZE_MIB} MiB A -> B on loopback (median of $ROUNDS, Java $JAVA_FEATURE) | time | ratio | CPU of A+B | ratio |"
echo "| --- | --- | --- | --- | --- |"
printf '| plain Vortex (sendfile) | %.2f s | 1.00 | %.2f s | 1.00 |\n' "$plain_t" "$plain_cpu"
printf '| mutual TLS (chunks through the cipher) | %.2f s | %.2f | %.2f s | %.2f |\n' "$tls_t" "$(echo "$tls_t / $plain_t" | bc -l)" \
  "$tls_cpu" "$(echo "$tls_cpu / $plain_cpu" | bc -l)"
