#!/usr/bin/env bash
# demo.sh: the original blog post's set-up in one command (make demo, as root).
#
# A real Prometheus (Debian's package) with deploy/prometheus/'s configuration
# and rules on loopback, the exporter, and lossy traffic made by scripts/chaos.sh
# in two network namespaces of its own. Prints where to look and what to query;
# Ctrl-C (or any exit) stops every process it started and removes everything.
#
# The exporter runs inside the sending namespace: the tracepoint is global, but
# the ratio's segment counters (/proc/net/snmp) are per namespace, and there the
# lossy host's are. scripts/demo-forward.py makes its port reachable on the
# host's 127.0.0.1, where Prometheus scrapes it as deploy/prometheus says.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo scripts/demo.sh [--binary PATH] [--duration SECONDS]

Starts Prometheus on 127.0.0.1:$DEMO_PROMETHEUS_PORT, the exporter on
127.0.0.1:$DEMO_EXPORTER_PORT and lossy TCP traffic between two namespaces,
until Ctrl-C (or for --duration seconds), then removes all of it.

Options:
  --binary PATH       the exporter (default .build/debug/retrans-exporter)
  --duration SECONDS  stop by itself after this long (default: run until Ctrl-C)
  -h, --help          this help

Environment (defaults in brackets):
  DEMO_PROMETHEUS_PORT   Prometheus' port [9090]
  DEMO_EXPORTER_PORT     the exporter's port [2112]
  DEMO_SCRAPE_INTERVAL   scrape and rule evaluation interval [15s, as deploy/prometheus]
  DEMO_LOSS              share of segments the link drops, percent [10]
  DEMO_FLOW_PORT         TCP port of the chaos traffic [7431]
  DEMO_NS_PREFIX         namespaces PREFIX-a and PREFIX-b [rtx-ch-demo]
  DEMO_NET               addresses 10.203.N.1 -> 10.203.N.2 [20]
EOF
}

root=$(cd "$(dirname "$0")/.." && pwd)
binary=$root/.build/debug/retrans-exporter
duration=0
prometheus_port=${DEMO_PROMETHEUS_PORT:-9090}
exporter_port=${DEMO_EXPORTER_PORT:-2112}
scrape_interval=${DEMO_SCRAPE_INTERVAL:-15s}
loss=${DEMO_LOSS:-10}
flow_port=${DEMO_FLOW_PORT:-7431}
prefix=${DEMO_NS_PREFIX:-rtx-ch-demo}
net=${DEMO_NET:-20}
# A pod's container, as the kubelet (systemd driver) and containerd name its cgroup.
demo_pod_uid=0d3e4f50-6a7b-4c8d-9e0f-1a2b3c4d5e6f
demo_cgroup=/rtx-demo.slice/kubepods-burstable-pod${demo_pod_uid//-/_}.slice/cri-containerd-$(printf 'de%.0s' $(seq 32)).scope

die() { echo "demo.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary=$2; shift 2 ;;
    --duration) [ $# -ge 2 ] || die "--duration needs seconds"; duration=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

is_port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_port "$prometheus_port" || die "DEMO_PROMETHEUS_PORT must be 1-65535, got '$prometheus_port'"
is_port "$exporter_port" || die "DEMO_EXPORTER_PORT must be 1-65535, got '$exporter_port'"
[ "$prometheus_port" != "$exporter_port" ] || die "DEMO_PROMETHEUS_PORT and DEMO_EXPORTER_PORT must differ"
[[ $scrape_interval =~ ^[0-9]+(ms|s|m)$ ]] || die "DEMO_SCRAPE_INTERVAL must look like 15s, got '$scrape_interval'"
[[ $duration =~ ^[0-9]+$ ]] || die "--duration must be whole seconds, got '$duration'"
[ "$(id -u)" -eq 0 ] || die "needs root (BPF, network namespaces): sudo make demo"
[ -x "$binary" ] || die "no exporter at $binary: run 'make build' (or make demo, which builds it)"
for tool in prometheus promtool ip nsenter setsid python3 curl; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run 'sudo make deps' (Debian: prometheus iproute2 util-linux python3 curl)"
done
for port in "$prometheus_port" "$exporter_port"; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
    die "something already listens on 127.0.0.1:$port (set DEMO_PROMETHEUS_PORT / DEMO_EXPORTER_PORT)"
  fi
done

ns_sender=$prefix-a
work_dir=""
chaos_pid="" exporter_pid="" forward_pid="" prometheus_pid="" timer_pid=""
cleaned=0
# SIGTERM, then SIGKILL after 10 s; with "group", to the process group the
# child leads (chaos.sh and its traffic generators).
stop_pid() {
  local pid=$1 target=$1
  [ -n "$pid" ] || return 0
  [ "${2:-}" = group ] && target=-$pid
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "$target" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  [ "$cleaned" = 1 ] && return
  cleaned=1
  echo "demo.sh: stopping and removing everything" >&2
  # The exporter and the forwarder live in (or hold) the sender's namespace:
  # they go first, then chaos.sh, which deletes its namespaces itself.
  stop_pid "$exporter_pid"
  stop_pid "$forward_pid"
  stop_pid "$chaos_pid" group
  stop_pid "$prometheus_pid"
  stop_pid "$timer_pid"
  bash "$root/scripts/chaos.sh" --cleanup --ns-prefix "$prefix" >/dev/null 2>&1 || true
  [ -n "$work_dir" ] && rm -rf -- "$work_dir"
  echo "demo.sh: clean" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

work_dir=$(mktemp -d /tmp/rtx-demo.XXXXXX)
log=$work_dir/log
mkdir -p "$log"

# deploy/prometheus as it is, but for the exporter's port and the interval.
sed -e "s|'localhost:2112'|'127.0.0.1:$exporter_port'|" \
    -e "s|^\(  scrape_interval:\).*|\1 $scrape_interval|" \
    -e "s|^\(  evaluation_interval:\).*|\1 $scrape_interval|" \
    "$root/deploy/prometheus/prometheus.yml" >"$work_dir/prometheus.yml"
cp "$root/deploy/prometheus/rules.yml" "$work_dir/rules.yml"
grep -q "127.0.0.1:$exporter_port" "$work_dir/prometheus.yml" \
  || die "deploy/prometheus/prometheus.yml no longer targets 'localhost:2112': update demo.sh"
promtool check config "$work_dir/prometheus.yml" >"$log/promtool" 2>&1 || { cat "$log/promtool" >&2; die "bad Prometheus configuration"; }

echo "demo: lossy traffic ($loss% loss) between namespaces $prefix-a and $prefix-b (scripts/chaos.sh)"
# In a session (and process group) of its own: Ctrl-C in the terminal reaches
# only demo.sh, whose clean-up stops chaos.sh, which removes its namespaces.
# The sender runs in a Kubernetes-shaped cgroup, so the dashboard's per-pod panels have a pod.
setsid bash "$root/scripts/chaos.sh" --ns-prefix "$prefix" --net "$net" --port "$flow_port" --loss "$loss" \
  --cgroup "$demo_cgroup" --duration 31536000 >"$log/chaos" 2>&1 &
chaos_pid=$!
for _ in $(seq 100); do
  grep -q '^traffic:' "$log/chaos" 2>/dev/null && break
  kill -0 "$chaos_pid" 2>/dev/null || { cat "$log/chaos" >&2; die "chaos.sh stopped before its traffic started"; }
  sleep 0.1
done
grep -q '^traffic:' "$log/chaos" || { cat "$log/chaos" >&2; die "chaos.sh did not start its traffic in 10 s"; }

echo "demo: exporter in $ns_sender, reachable on 127.0.0.1:$exporter_port"
nsenter --net="/run/netns/$ns_sender" -- "$binary" run --web.listen-address "127.0.0.1:$exporter_port" \
  >"$log/exporter" 2>&1 &
exporter_pid=$!
python3 -u "$root/scripts/demo-forward.py" "$ns_sender" "$exporter_port" >"$log/forward" 2>&1 &
forward_pid=$!
for _ in $(seq 300); do
  curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$exporter_port/metrics" && break
  kill -0 "$exporter_pid" 2>/dev/null || { cat "$log/exporter" >&2; die "the exporter stopped"; }
  kill -0 "$forward_pid" 2>/dev/null || { cat "$log/forward" >&2; die "the forwarder stopped"; }
  sleep 0.1
done
curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$exporter_port/metrics" \
  || { cat "$log/exporter" "$log/forward" >&2; die "the exporter does not answer on 127.0.0.1:$exporter_port"; }

echo "demo: Prometheus on 127.0.0.1:$prometheus_port (deploy/prometheus/prometheus.yml and rules.yml, every $scrape_interval)"
prometheus --config.file="$work_dir/prometheus.yml" --storage.tsdb.path="$work_dir/data" \
  --web.listen-address="127.0.0.1:$prometheus_port" >"$log/prometheus" 2>&1 &
prometheus_pid=$!
for _ in $(seq 600); do
  curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$prometheus_port/-/ready" && break
  kill -0 "$prometheus_pid" 2>/dev/null || { cat "$log/prometheus" >&2; die "Prometheus stopped"; }
  sleep 0.1
done
curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$prometheus_port/-/ready" \
  || { tail -20 "$log/prometheus" >&2; die "Prometheus is not ready after 60 s"; }

graph() {
  # A link to the graph page with the query filled in (Prometheus 2.x UI).
  local encoded
  encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")
  echo "http://127.0.0.1:$prometheus_port/graph?g0.expr=$encoded&g0.tab=0&g0.range_input=15m"
}
cat <<EOF

Ready. Data appears after two scrapes (about $scrape_interval x 2); the ratio needs a few more.

  Prometheus     http://127.0.0.1:$prometheus_port/
  targets        http://127.0.0.1:$prometheus_port/targets   (job TCPRetrans should be UP)
  alerts         http://127.0.0.1:$prometheus_port/alerts    (TCPRetransmissionRateHigh: pending, fires after 5 minutes above 2%)
  the metrics    curl -s 127.0.0.1:$exporter_port/metrics | grep tcp_retrans

Queries to try:
  tcp_retransmissions_total
    $(graph 'tcp_retransmissions_total')
  rate(tcp_retransmissions_total[1m])
    $(graph 'rate(tcp_retransmissions_total[1m])')
  tcp:retransmission_ratio:rate5m
    $(graph 'tcp:retransmission_ratio:rate5m')
  ALERTS{alertname="TCPRetransmissionRateHigh"}
    $(graph 'ALERTS{alertname="TCPRetransmissionRateHigh"}')
  sum by (pod_uid, kind) (rate(tcp_retransmitted_segments_by_cgroup_total[1m]))   (the sender's "pod": chaos.sh --cgroup)
    $(graph 'sum by (pod_uid, kind) (rate(tcp_retransmitted_segments_by_cgroup_total[1m]))')

Grafana: import deploy/grafana/retrans-exporter.json with this Prometheus as its data source.
The exporter runs in namespace $ns_sender (the lossy sender), so the ratio is that host's.
demo processes: chaos=$chaos_pid exporter=$exporter_pid forward=$forward_pid prometheus=$prometheus_pid
Logs: $log   Ctrl-C stops everything and removes it.
EOF

# Until Ctrl-C, the end of --duration, or any of our processes stopping.
if [ "$duration" -gt 0 ]; then
  sleep "$duration" &
  timer_pid=$!
fi
status=0
wait -n "$chaos_pid" "$exporter_pid" "$forward_pid" "$prometheus_pid" ${timer_pid:+"$timer_pid"} || status=$?
if [ -n "$timer_pid" ] && ! kill -0 "$timer_pid" 2>/dev/null; then
  timer_pid=""
  echo "demo: $duration s are over"
  exit 0
fi
for name in chaos exporter forward prometheus; do
  pid_var=${name}_pid
  if ! kill -0 "${!pid_var}" 2>/dev/null; then
    echo "demo.sh: $name stopped (status $status); its log:" >&2
    tail -20 "$log/$name" >&2 || true
  fi
done
exit 1
