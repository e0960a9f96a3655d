#!/usr/bin/env bash
# Registry mirror (issue 10): containerd pulls one image (layers LAYER_MIB, 128+96+32 MiB) from the distribution
# registry, with ctr, on NODES nodes (3) at once: every node, the registry and Pollen's scheduler in network
# namespaces of their own on one bridge, each node with its own containerd (and, with the mirror, its own dfdaemon).
#   direct - hosts.toml sends containerd to the registry;
#   mirror - hosts.toml written by `dfdaemon containerd-config` sends it to the node's mirror first (P2P, one task
#            per layer for the whole cluster).
# First a lone pull (one node, no caps) LONE_RUNS times each way, alternating: what the mirror costs a pull that
# P2P cannot help. Then the swarm: every node's and the registry's uplink capped at RATE_MBIT (tbf), one
# concurrent pull each way. Each pull starts on a fresh containerd root and a fresh Pollen store, after a small
# warm-up image went the same way (JIT, connections). Reports the time until every node has the image
# (`ctr images pull`, unpack included) and the bytes the registry sent over the image's layer bytes. Needs root.
# Usage: bench/mirror.sh [NODES] [RATE_MBIT] [LONE_RUNS]
set -euo pipefail
NODES="${1:-3}"
RATE_MBIT="${2:-400}"
LONE_RUNS="${3:-3}"
LAYER_MIB="${LAYER_MIB:-128 96 32}"
BENCH_DIR="${BENCH_DIR:-/dev/shm}"
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/_netns.sh"
for tool in docker-registry skopeo containerd ctr; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install docker-registry skopeo containerd" >&2; exit 2; }
done

# ---- the image: an OCI layout of gzip'd tars of random bytes ----
sha() { sha256sum "$1" | cut -d' ' -f1; }
# oci_image DIR MIB...: writes an OCI layout tagged v1 with one layer per size.
oci_image() {
  local dir=$1; shift
  mkdir -p "$dir/blobs/sha256" "$dir/tmp"
  local layers="" diffs="" i=0 mib
  for mib in "$@"; do
    i=$((i + 1))
    head -c $((mib << 20)) /dev/urandom > "$dir/tmp/file$i"
    tar -C "$dir/tmp" -cf "$dir/tmp/layer$i.tar" "file$i"
    gzip -1 -c "$dir/tmp/layer$i.tar" > "$dir/tmp/layer$i.tgz"
    local d; d=$(sha "$dir/tmp/layer$i.tgz")
    mv "$dir/tmp/layer$i.tgz" "$dir/blobs/sha256/$d"
    layers+="${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$dir/blobs/sha256/$d")}"
    diffs+="${diffs:+,}\"sha256:$(sha "$dir/tmp/layer$i.tar")\""
  done
  rm -rf "$dir/tmp"
  printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" > "$dir/config"
  local c; c=$(sha "$dir/config"); mv "$dir/config" "$dir/blobs/sha256/$c"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$c" "$(stat -c %s "$dir/blobs/sha256/$c")" "$layers" > "$dir/manifest"
  local m; m=$(sha "$dir/manifest"); mv "$dir/manifest" "$dir/blobs/sha256/$m"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"v1"}}]}' \
    "$m" "$(stat -c %s "$dir/blobs/sha256/$m")" > "$dir/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
}
# shellcheck disable=SC2086
oci_image "$WORK/big" $LAYER_MIB
oci_image "$WORK/warm" 4 2
LAYER_BYTES=0
for f in "$WORK"/big/blobs/sha256/*; do
  [ "$(stat -c %s "$f")" -gt 1000000 ] && LAYER_BYTES=$((LAYER_BYTES + $(stat -c %s "$f")))
done

# ---- the network, the registry ----
net_create
net_add reg
net_add sched
for i in $(seq "$NODES"); do net_add "n$i"; done
REG="${NODE_IP[reg]}:5000"
registry_config "$WORK/registry.yml" "$REG"
spawn reg "$WORK/registry.log" docker-registry serve "$WORK/registry.yml"
until on n1 curl -s -o /dev/null "http://$REG/v2/"; do sleep 0.1; done
for image in big warm; do
  on n1 skopeo --insecure-policy copy --all --preserve-digests --dest-tls-verify=false --dest-no-creds \
    "oci:$WORK/$image:v1" "docker://$REG/bench/$image:v1" >/dev/null
done
spawn sched "$WORK/scheduler.log" "$BIN/scheduler" --listen "${NODE_IP[sched]}" --port 8002
await_ready "$WORK/scheduler.log"

# ---- one node: containerd, and dfdaemon with its mirror (mirror mode) ----
declare -A CTRD_PID DAEMON_PID
# node_up NODE MODE RUN: a fresh containerd (and dfdaemon) on NODE, hosts.toml for MODE.
node_up() {
  local n=$1 mode=$2 run=$3 d="$WORK/$1-$2-$3"
  mkdir -p "$d/certs.d"
  cat > "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$d/c.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "$d/certs.d"
TOML
  spawn "$n" "$d/containerd.log" containerd --config "$d/config.toml"
  CTRD_PID[$n]=$SPAWNED
  if [ "$mode" = mirror ]; then
    spawn "$n" "$d/dfdaemon.log" "$BIN/dfdaemon" --download.server.socketPath="$d/dfdaemon.sock" --storage.dir="$d/store" \
      --host.ip="${NODE_IP[$n]}" --upload.server.ip="${NODE_IP[$n]}" --scheduler.addresses="${NODE_IP[sched]}:8002" \
      --gc.policy.diskQuota=100GiB --upload.bandwidth="${UPLINK:-10gbit}" \
      --proxy.server.enable=true --proxy.registryMirror.insecureRegistries="$REG"
    DAEMON_PID[$n]=$SPAWNED
    await_ready "$d/dfdaemon.log"
    "$BIN/dfdaemon" containerd-config --certs-dir "$d/certs.d" --containerd-config "$d/config.toml" --registry "$REG" \
      --plain-http "$REG" --mirror http://127.0.0.1:4001 >/dev/null
  else
    mkdir -p "$d/certs.d/$REG"
    printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$REG" "$REG" > "$d/certs.d/$REG/hosts.toml"
  fi
  until [ -S "$d/c.sock" ]; do sleep 0.05; done
}
# pull NODE MODE RUN IMAGE: ctr images pull on NODE; prints the time it ended (epoch seconds).
pull() {
  local d="$WORK/$1-$2-$3"
  on "$1" ctr --address "$d/c.sock" images pull --hosts-dir "$d/certs.d" "$REG/bench/$4:v1" >> "$d/pull.log" 2>&1
  now
}
node_down() {
  for p in ${DAEMON_PID[$1]:-} ${CTRD_PID[$1]}; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  unset "DAEMON_PID[$1]"
  # containerd leaves its overlay mounts (the unpacked layers) behind.
  grep " $WORK/$1-" /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r umount 2>/dev/null || true
}
reg_sent() { node_sent reg; }

# round MODE RUN NODE...: warm-up, then every NODE pulls the big image at once; sets SECS (until the last one
# has it), SENT (what the registry sent meanwhile) and, with the mirror, CPU (the daemons' CPU seconds meanwhile)
# and RSS (their peak resident memory).
round() {
  local mode=$1 run=$2 n; shift 2
  for n in "$@"; do node_up "$n" "$mode" "$run"; done
  # Only the pulls are waited for: containerd and the daemons are background jobs too.
  local jobs=()
  for n in "$@"; do pull "$n" "$mode" "$run" warm >/dev/null & jobs+=($!); done
  wait "${jobs[@]}"
  if [ "$mode" = mirror ]; then await_idle "${DAEMON_PID[@]}"; fi
  local t0 sent0 cpu0=0 ends=()
  if [ "$mode" = mirror ]; then cpu0=$(cpu_seconds "${DAEMON_PID[@]}"); fi
  sent0=$(reg_sent); t0=$(now)
  jobs=()
  for n in "$@"; do pull "$n" "$mode" "$run" big > "$WORK/end-$mode-$run-$n" & jobs+=($!); done
  wait "${jobs[@]}"
  for n in "$@"; do
    grep -q "unpacking\|done" "$WORK/$n-$mode-$run/pull.log" || { echo "pull failed on $n ($mode)" >&2; cat "$WORK/$n-$mode-$run/pull.log" >&2; exit 1; }
    ends+=("$(cat "$WORK/end-$mode-$run-$n")")
  done
  local last; last=$(printf '%s\n' "${ends[@]}" | sort -n | tail -1)
  SECS=$(echo "$last - $t0" | bc -l)
  SENT=$(( $(reg_sent) - sent0 ))
  if [ "$mode" = mirror ]; then
    CPU=$(echo "$(cpu_seconds "${DAEMON_PID[@]}") - $cpu0" | bc -l)
    RSS=$(peak_rss_mib "${DAEMON_PID[@]}")
  fi
  for n in "$@"; do node_down "$n"; done
}

# The lone pull is measured before any cap: the registry's own tbf counts bytes from here on (at 10 gbit).
limit_upload reg 10gbit
echo "image: $(echo $LAYER_MIB | tr ' ' '+') MiB in layers ($LAYER_BYTES bytes); lone pull x$LONE_RUNS, then $NODES nodes at ${RATE_MBIT} mbit"
declare -A LONE
LONE_CPU=""
for r in $(seq "$LONE_RUNS"); do
  for mode in direct mirror; do
    round "$mode" "lone$r" n1
    LONE[$mode]+="$(printf %.2f "$SECS") "
  done
  LONE_CPU+="$(printf %.2f "$CPU") "
done
lone_direct=$(printf '%s\n' ${LONE[direct]} | median)
lone_mirror=$(printf '%s\n' ${LONE[mirror]} | median)
printf 'lone pull, median of %s: direct %.2f s, mirror %.2f s (%.2fx)   [direct: %s| mirror: %s]\n' "$LONE_RUNS" \
  "$lone_direct" "$lone_mirror" "$(echo "$lone_mirror / $lone_direct" | bc -l)" "${LONE[direct]}" "${LONE[mirror]}"
echo "  the daemon's CPU during each mirror pull: ${LONE_CPU}s; peak RSS (last round): $RSS"

limit_upload reg "${RATE_MBIT}mbit"
for i in $(seq "$NODES"); do limit_upload "n$i" "${RATE_MBIT}mbit"; done
UPLINK="${RATE_MBIT}mbit"
NODE_LIST=$(seq -f 'n%g' "$NODES" | tr '\n' ' ')
LIMIT=$(echo "$LAYER_BYTES * 8 / ($RATE_MBIT * 1000000)" | bc -l)
# shellcheck disable=SC2086
round direct swarm $NODE_LIST; swarm_direct=$SECS; egress_direct=$SENT
# shellcheck disable=SC2086
round mirror swarm $NODE_LIST; swarm_mirror=$SECS; egress_mirror=$SENT
printf '%s nodes at %s mbit (limit: the layers once through the registry uplink, %.2f s):\n' "$NODES" "$RATE_MBIT" "$LIMIT"
printf '  direct: all done %.2f s (%.2fx limit), registry sent %.3fx the layers\n' "$swarm_direct" \
  "$(echo "$swarm_direct / $LIMIT" | bc -l)" "$(echo "$egress_direct / $LAYER_BYTES" | bc -l)"
printf '  mirror: all done %.2f s (%.2fx limit), registry sent %.3fx the layers; time %.2fx direct; daemons: %.1f CPU-s, peak RSS %s\n' \
  "$swarm_mirror" "$(echo "$swarm_mirror / $LIMIT" | bc -l)" "$(echo "$egress_mirror / $LAYER_BYTES" | bc -l)" \
  "$(echo "$swarm_mirror / $swarm_direct" | bc -l)" "$CPU" "$RSS"
