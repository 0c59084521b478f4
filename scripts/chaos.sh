#!/usr/bin/env bash
# chaos.sh: make TCP retransmissions on purpose, without touching the host's network.
#
# The original exporter's chaos script put `tc netem loss 5% delay 100ms` on the
# host's eth0 and fetched public websites. This one never touches a real
# interface and never sends a packet off the machine: it creates two hosts of
# its own (network namespaces joined by a veth pair), makes the link lossy, runs
# a bounded bulk transfer between them, and always removes everything again.
#
# Loss: `tc netem` (loss + delay, like the original) where the kernel has
# sch_netem; otherwise an nftables rule in the receiving namespace that drops a
# random share of the inbound segments (no delay: nftables cannot delay).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo scripts/chaos.sh [options]

Creates two network namespaces (PREFIX-a sends, PREFIX-b receives) joined by a
veth pair, makes the link lossy, sends TCP bulk traffic from a to b for a
bounded time, prints what the sender's kernel counted, and removes everything
on exit (also on Ctrl-C or SIGTERM). Nothing leaves the machine.

Options:
  --loss PCT          share of segments to drop, 0-100, decimals allowed (default 10)
  --delay MS          one-way delay with netem (default 100); nftables cannot delay
  --duration SECONDS  how long to send (default 10)
  --iterations N      send N transfers instead of running for a duration
  --bytes N           bytes per transfer (default 262144)
  --port PORT         receiver's TCP port (default 7401)
  --ipv6              use fd00:203::4:1 -> fd00:203::4:2 instead of 10.203.4.1 -> 10.203.4.2
  --net N             addresses 10.203.N.1/.2 (fd00:203::N:1/:2 with --ipv6) instead of N = 4,
                      for a second run beside another one (1-255)
  --mode MODE         auto (default: netem if available, else nft), netem or nft
  --ns-prefix NAME    namespace name prefix (default rtx-ch; must start with rtx-ch)
  --cgroup PATH       run the sender in this cgroup v2 (a path under the cgroup2 root,
                      e.g. /rtx-demo.slice/app.service), so the exporter's cgroup,
                      pod_uid and container_id labels name it; made here, removed on exit
  --cleanup           only remove namespaces left by a killed run, then exit
  -h, --help          this help

The host's own interfaces are never modified: there is no host or loopback mode.
Watch the exporter meanwhile:  curl -s localhost:2112/metrics | grep dst_port=\"7401\"
EOF
}

loss=10
delay_ms=100
duration=10
iterations=0
bytes_per_transfer=262144
port=7401
family=4
mode=auto
prefix=rtx-ch
net=4
cleanup_only=0
cgroup=""

die() { echo "chaos.sh: $*" >&2; exit 2; }
need_value() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --loss) need_value "$@"; loss=$2; shift 2 ;;
    --delay) need_value "$@"; delay_ms=$2; shift 2 ;;
    --duration) need_value "$@"; duration=$2; iterations=0; shift 2 ;;
    --iterations) need_value "$@"; iterations=$2; shift 2 ;;
    --bytes) need_value "$@"; bytes_per_transfer=$2; shift 2 ;;
    --port) need_value "$@"; port=$2; shift 2 ;;
    --ipv6) family=6; shift ;;
    --net) need_value "$@"; net=$2; shift 2 ;;
    --mode) need_value "$@"; mode=$2; shift 2 ;;
    --ns-prefix) need_value "$@"; prefix=$2; shift 2 ;;
    --cgroup) need_value "$@"; cgroup=$2; shift 2 ;;
    --cleanup) cleanup_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
[[ $loss =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v l="$loss" 'BEGIN { exit !(l <= 100) }' \
  || die "--loss must be a percentage from 0 to 100, got '$loss'"
is_uint "$delay_ms" || die "--delay must be whole milliseconds, got '$delay_ms'"
is_uint "$duration" && [ "$duration" -gt 0 ] || die "--duration must be a positive number of seconds, got '$duration'"
is_uint "$iterations" || die "--iterations must be a positive number, got '$iterations'"
is_uint "$bytes_per_transfer" && [ "$bytes_per_transfer" -gt 0 ] || die "--bytes must be positive, got '$bytes_per_transfer'"
is_uint "$port" && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port must be 1-65535, got '$port'"
is_uint "$net" && [ "$net" -ge 1 ] && [ "$net" -le 255 ] || die "--net must be 1-255, got '$net'"
case "$mode" in auto|netem|nft) ;; *) die "--mode must be auto, netem or nft, got '$mode'" ;; esac
# Only names under our own prefix are ever created or deleted.
[[ $prefix =~ ^rtx-ch[a-z0-9-]*$ ]] && [ ${#prefix} -le 20 ] \
  || die "--ns-prefix must start with 'rtx-ch', use [a-z0-9-] and be at most 20 characters"

[ -z "$cgroup" ] || [[ $cgroup =~ ^(/[A-Za-z0-9_.:@-]+)+$ && ! $cgroup =~ /\.\.?(/|$) ]] \
  || die "--cgroup must be an absolute cgroup path of [A-Za-z0-9_.:@-] components, got '$cgroup'"

[ "$(id -u)" -eq 0 ] || die "needs root (it creates network namespaces): sudo $0 $*"
for tool in ip python3 awk; do
  command -v "$tool" >/dev/null || die "'$tool' not found (Debian: apt-get install iproute2 python3 gawk)"
done

ns_a="$prefix-a"   # sender
ns_b="$prefix-b"   # receiver: the loss is applied to what it receives
if [ "$family" = 4 ]; then
  addr_a=10.203.$net.1; addr_b=10.203.$net.2; plen=24
else
  addr_a=fd00:203::$net:1; addr_b=fd00:203::$net:2; plen=64
fi

ns_exists() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }

work_dir=""
child_pids=()
cgroup_root=""
cgroups_made=()   # the cgroup directories this run made, parents first
cleaned=0
cleanup() {
  [ "$cleaned" = 1 ] && return
  cleaned=1
  # Our own children first (by PID), so the namespaces hold no process.
  for pid in "${child_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${child_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Deleting a namespace deletes its veth end, its qdisc and its nftables table.
  for ns in "$ns_a" "$ns_b"; do
    ns_exists "$ns" && ip netns del "$ns" 2>/dev/null || true
  done
  # Only the cgroups this run made, deepest first (their processes are gone).
  for (( i = ${#cgroups_made[@]} - 1; i >= 0; i-- )); do
    rmdir -- "${cgroups_made[i]}" 2>/dev/null || true
  done
  [ -n "$work_dir" ] && rm -rf -- "$work_dir"
}
on_signal() { echo "chaos.sh: interrupted, cleaning up" >&2; cleanup; exit "$1"; }
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

if [ "$cleanup_only" = 1 ]; then
  exit 0
fi

for ns in "$ns_a" "$ns_b"; do
  ns_exists "$ns" && { cleaned=1; die "namespace $ns already exists (another run, or one that was killed): remove it with '$0 --cleanup --ns-prefix $prefix'"; }
done

# ---- the sender's cgroup ----------------------------------------------------
if [ -n "$cgroup" ]; then
  cgroup_root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
  [ -n "$cgroup_root" ] || die "--cgroup: no cgroup2 file system is mounted (see /proc/self/mountinfo)"
  path=$cgroup_root
  IFS=/ read -ra components <<<"${cgroup#/}"
  for component in "${components[@]}"; do
    path=$path/$component
    [ -d "$path" ] && continue
    mkdir -- "$path" || die "--cgroup: cannot create $path"
    cgroups_made+=("$path")
  done
fi

# ---- the two hosts ----------------------------------------------------------
ip netns add "$ns_a"
ip netns add "$ns_b"
# Created directly inside the namespaces: no interface ever appears on the host.
ip -n "$ns_a" link add veth-a type veth peer name veth-b netns "$ns_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" addr add "$addr_a/$plen" dev veth-a nodad 2>/dev/null || ip -n "$ns_a" addr add "$addr_a/$plen" dev veth-a
ip -n "$ns_b" addr add "$addr_b/$plen" dev veth-b nodad 2>/dev/null || ip -n "$ns_b" addr add "$addr_b/$plen" dev veth-b
ip -n "$ns_a" link set veth-a up
ip -n "$ns_b" link set veth-b up

# ---- the loss -----------------------------------------------------------------
use_netem() {
  # netem only shapes egress: put it on the sender's side of the link, where the
  # original put it (eth0 of the sending host). A kernel without sch_netem
  # refuses this, whatever `modprobe -n` says.
  ip netns exec "$ns_a" tc qdisc add dev veth-a root netem loss "$loss%" delay "${delay_ms}ms" 2>/dev/null
}
use_nft() {
  command -v nft >/dev/null || die "no sch_netem and no 'nft' (Debian: apt-get install nftables)"
  # Random drop of the data segments the receiver gets, in units of 1/10000.
  local basis_points
  basis_points=$(awk -v l="$loss" 'BEGIN { printf "%d", l * 100 + 0.5 }')
  ip netns exec "$ns_b" nft -f - <<EOF
table inet rtx_chaos {
  chain input {
    type filter hook input priority filter; policy accept;
    tcp dport $port numgen random mod 10000 < $basis_points counter drop
  }
}
EOF
}

applied=""
case "$mode" in
  netem) use_netem || die "tc netem failed: this kernel has no sch_netem (try --mode nft)"; applied=netem ;;
  nft) use_nft; applied=nft ;;
  auto) if use_netem; then applied=netem; else use_nft; applied=nft; fi ;;
esac
if [ "$applied" = netem ]; then
  echo "loss: tc netem on $ns_a/veth-a: loss $loss% delay ${delay_ms}ms"
else
  echo "loss: nftables in $ns_b drops $loss% of inbound segments to port $port (no sch_netem: no delay)"
fi

# ---- the traffic ---------------------------------------------------------------
work_dir=$(mktemp -d /tmp/rtx-chaos.XXXXXX)
cat >"$work_dir/receiver.py" <<'EOF'
# Accepts connections and discards what arrives, until the deadline.
import socket, sys, time
addr, port, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((addr, port))
server.listen(16)
server.settimeout(0.5)
print("ready", flush=True)
while time.monotonic() < deadline:
    try:
        conn, _ = server.accept()
    except socket.timeout:
        continue
    with conn:
        conn.settimeout(max(0.5, deadline - time.monotonic()))
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
EOF
cat >"$work_dir/sender.py" <<'EOF'
# Bulk transfers to the receiver: a number of them, or until the deadline.
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
per_transfer, iterations, duration = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
deadline = time.monotonic() + duration
chunk = b"x" * 65536
done = failed = sent = 0
while (done + failed < iterations) if iterations else (time.monotonic() < deadline):
    try:
        with socket.create_connection((addr, port), timeout=10) as conn:
            left = per_transfer
            while left > 0:
                left -= conn.send(chunk[:min(left, len(chunk))])
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)  # wait for the receiver's FIN: every byte was acknowledged
            sent += per_transfer
            done += 1
    except OSError as error:
        failed += 1
        print(f"transfer {done + failed}: {error}", file=sys.stderr, flush=True)
print(f"transfers: {done} done, {failed} failed, {sent} bytes sent", flush=True)
sys.exit(0 if done > 0 else 1)
EOF

retrans_segs() {
  # Tcp RetransSegs in the sender's namespace (/proc/net/snmp is per namespace).
  ip netns exec "$ns_a" awk '$1 == "Tcp:" { if (!n++) { for (i = 2; i <= NF; i++) col[$i] = i } else print $col["RetransSegs"] }' /proc/net/snmp
}

# The receiver outlives the sender: iterations have no fixed end, so give it a
# generous bound (each transfer is at most its timeouts long).
if [ "$iterations" -gt 0 ]; then receiver_life=$(( iterations * 60 + 10 )); else receiver_life=$(( duration + 30 )); fi
ip netns exec "$ns_b" python3 -u "$work_dir/receiver.py" "$addr_b" "$port" "$receiver_life" >"$work_dir/receiver.out" 2>&1 &
child_pids+=($!)
for _ in $(seq 50); do
  grep -q ready "$work_dir/receiver.out" 2>/dev/null && break
  kill -0 "${child_pids[0]}" 2>/dev/null || { cat "$work_dir/receiver.out" >&2; die "the receiver did not start"; }
  sleep 0.1
done

before=$(retrans_segs)
if [ "$iterations" -gt 0 ]; then what="$iterations"; else what="${duration}s of"; fi
echo "traffic: $ns_a [$addr_a] -> $ns_b [$addr_b]:$port, $what $bytes_per_transfer-byte transfers${cgroup:+, sender in cgroup $cgroup}"
if [ -n "$cgroup" ]; then
  # The shell moves itself into the cgroup before exec: every socket the sender makes is the cgroup's.
  sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cgroup_root$cgroup" \
    ip netns exec "$ns_a" python3 -u "$work_dir/sender.py" "$addr_b" "$port" "$bytes_per_transfer" "$iterations" "$duration" &
else
  ip netns exec "$ns_a" python3 -u "$work_dir/sender.py" "$addr_b" "$port" "$bytes_per_transfer" "$iterations" "$duration" &
fi
sender_pid=$!
child_pids+=("$sender_pid")
# `wait` on a background job returns as soon as a trapped signal arrives, so
# Ctrl-C cleans up at once instead of after the transfer.
sender_status=0
wait "$sender_pid" || sender_status=$?
after=$(retrans_segs)
echo "retransmitted segments in $ns_a: $(( after - before )) (Tcp RetransSegs)"
exit "$sender_status"
