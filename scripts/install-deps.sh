#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, run and test
# retrans-exporter. Needs root. Safe to run again.
set -euo pipefail

packages=(
  clang linux-libc-dev make      # the BPF object
  llvm                           # llvm-readelf/objdump: independent witnesses in tests
  iproute2 nftables              # test hosts in network namespaces, packet loss
  prometheus                     # real Prometheus and promtool in end-to-end tests
  bpftool bpftrace               # independent witnesses in tests
  libbpf-tools                   # softirqs: a BTF tracing co-tenant in bench.py --only cotenancy
  curl procps util-linux        # curl, ps, setpriv/taskset in tests
  python3 python3-yaml           # traffic generators, YAML checks in tests
  dpkg-dev binutils lintian      # make deb (dpkg-shlibdeps, strip) and its lint in tests
  chromium                       # screenshot of make demo's Prometheus in tests
  libcrypt-dev libyaml-dev zlib1g-dev  # bcrypt (crypt_r), the web config file, gzip
  g++                            # libstdc++.a: the release binary links the C++ runtime statically
  openssl apache2-utils          # certificates and htpasswd's bcrypt hashes in tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tracepoint lives in tracefs; mount it when nothing has.
if [ ! -e /sys/kernel/tracing/events ] && [ ! -e /sys/kernel/debug/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
echo "dependencies ready"
