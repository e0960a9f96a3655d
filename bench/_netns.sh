# Sourced by benchmarks that need several "machines": a bridge and one network namespace per node, each
# with its own address on a private /24, removed on exit (after the processes in them stopped).
# shellcheck shell=bash
IP=$(command -v ip || echo /usr/sbin/ip)
NET_TAG="pb$$"
NET_SUBNET="10.$((100 + ($$ >> 8) % 150)).$(($$ & 255))"
NET_HOSTS=1
declare -A NODE_IP NODE_NS

# net_create: the bridge, up, with no address in the root namespace.
net_create() {
  "$IP" link add "${NET_TAG}b" type bridge
  "$IP" link set "${NET_TAG}b" up
  teardown+=("$IP link del ${NET_TAG}b")
}

# net_add ROLE: namespace ${NET_TAG}-ROLE on the bridge with the next address; NODE_IP[ROLE], NODE_NS[ROLE].
net_add() {
  local role=$1 host=$((++NET_HOSTS))
  local ns="${NET_TAG}-$role" veth="${NET_TAG}v$host"
  "$IP" netns add "$ns"
  teardown+=("$IP netns del $ns")
  "$IP" link add "$veth" type veth peer name eth0 netns "$ns"
  "$IP" link set "$veth" master "${NET_TAG}b" up
  "$IP" -n "$ns" addr add "$NET_SUBNET.$host/24" dev eth0
  "$IP" -n "$ns" link set eth0 up
  "$IP" -n "$ns" link set lo up
  NODE_IP[$role]="$NET_SUBNET.$host"
  NODE_NS[$role]="$ns"
}

# on ROLE COMMAND...: runs COMMAND inside ROLE's namespace (exec'd, so a background $! is its PID).
on() {
  local role=$1; shift
  "$IP" netns exec "${NODE_NS[$role]}" "$@"
}

# spawn ROLE LOG COMMAND...: starts COMMAND in the background inside ROLE's namespace, output to LOG;
# its PID (ip netns exec execs COMMAND) is $SPAWNED and is stopped on exit.
spawn() {
  local role=$1 log=$2; shift 2
  "$IP" netns exec "${NODE_NS[$role]}" "$@" > "$log" 2>&1 &
  SPAWNED=$!
  pids+=("$SPAWNED")
}

# limit_upload ROLE RATE: a token bucket on what ROLE sends, as a real link of that speed would.
limit_upload() {
  on "$1" tc qdisc replace dev eth0 root tbf rate "$2" burst 256kb latency 50ms
}

# node_sent NODE: bytes the node has sent so far through its capped link (0 when its link is not capped).
node_sent() {
  on "$1" tc -s qdisc show dev eth0 | awk '/Sent/ {print $2; found=1; exit} END {if (!found) print 0}'
}
