#!/usr/bin/env bash
# build-deb.sh: retrans-exporter_VERSION_ARCH.deb from the release binary, with dpkg-deb.
#
#   scripts/build-deb.sh [BINARY] [OUTPUT_DIR]     (make deb: the binary of `make release`)
#
# The version is the binary's own (`retrans-exporter --version`) and must be the
# top entry of deploy/debian/changelog. The systemd unit is generated from
# deploy/systemd/retrans-exporter.service (the one file): only its binary path
# and its flags change, so the package's unit never drifts from the tested one.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
binary=${1:-$root/.build/release/retrans-exporter}
out_dir=${2:-$root/.build/deb}
debian=$root/deploy/debian
die() { echo "build-deb.sh: $*" >&2; exit 1; }

[ -x "$binary" ] || die "no binary at $binary: run 'make release' first"
# Absolute paths: dpkg-shlibdeps runs from another directory below.
binary=$(realpath -- "$binary")
mkdir -p -- "$out_dir" && out_dir=$(realpath -- "$out_dir")
for tool in dpkg-deb dpkg-shlibdeps strip gzip sed; do
  command -v "$tool" >/dev/null || die "'$tool' not found (Debian: apt-get install dpkg-dev binutils)"
done

version=$("$binary" --version) || die "$binary --version failed"
[[ $version =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "the binary's version '$version' is not a Debian version"
changelog_version=$(sed -n '1s/^retrans-exporter (\([^)]*\)).*/\1/p' "$debian/changelog")
[ "$changelog_version" = "$version" ] \
  || die "the binary is $version but deploy/debian/changelog starts with '$changelog_version': add an entry for $version"
arch=$(dpkg --print-architecture)

stage=$out_dir/root
rm -rf -- "$stage"
mkdir -p "$stage/DEBIAN"
# Every directory 0755 and every file 0644 unless said otherwise, whatever the umask.
umask 022

install -D -m 0755 "$binary" "$stage/usr/bin/retrans-exporter"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/retrans-exporter"

# The unit: /usr/bin instead of /usr/local/bin, flags from the defaults file,
# the man page as its documentation, and no manual-install instructions in its header.
unit=$stage/lib/systemd/system/retrans-exporter.service
mkdir -p "$(dirname "$unit")"
sed -e '/^#   install -m /d' \
    -e 's|^Description=.*$|&\nDocumentation=man:retrans-exporter(1) file:/usr/share/doc/retrans-exporter/deploy.md|' \
    -e 's|^ExecStart=/usr/local/bin/retrans-exporter run .*$|EnvironmentFile=-/etc/default/retrans-exporter\nExecStart=/usr/bin/retrans-exporter run $ARGS|' \
    -e 's|/usr/local/bin/|/usr/bin/|g' \
    "$root/deploy/systemd/retrans-exporter.service" >"$unit"
chmod 0644 "$unit"
[ "$(grep -c '^ExecStart=/usr/bin/retrans-exporter run \$ARGS$' "$unit")" = 1 ] && ! grep -q /usr/local "$unit" \
  || die "deploy/systemd/retrans-exporter.service no longer has 'ExecStart=/usr/local/bin/retrans-exporter run ...': update this script"

install -D -m 0644 "$debian/default" "$stage/etc/default/retrans-exporter"
echo /etc/default/retrans-exporter >"$stage/DEBIAN/conffiles"

share=$stage/usr/share/retrans-exporter
install -D -m 0644 -t "$share/prometheus" "$root"/deploy/prometheus/*.yml
if compgen -G "$root/deploy/grafana/*.json" >/dev/null; then
  install -D -m 0644 -t "$share/grafana" "$root"/deploy/grafana/*.json
fi

doc=$stage/usr/share/doc/retrans-exporter
install -D -m 0644 "$root/README.md" "$doc/README.md"
install -D -m 0644 "$root/deploy/README.md" "$doc/deploy.md"
install -D -m 0644 -t "$doc" "$root"/docs/METRICS.md "$root"/docs/RELIABILITY.md
install -D -m 0644 "$debian/copyright" "$doc/copyright"
gzip -9n <"$debian/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
mkdir -p "$stage/usr/share/man/man1"
gzip -9n <"$debian/retrans-exporter.1" >"$stage/usr/share/man/man1/retrans-exporter.1.gz"
chmod 0644 "$stage/usr/share/man/man1/retrans-exporter.1.gz"

install -D -m 0644 "$debian/lintian-overrides" "$stage/usr/share/lintian/overrides/retrans-exporter"

for script in postinst prerm postrm; do
  install -m 0755 "$debian/$script" "$stage/DEBIAN/$script"
done

# Depends from the libraries the binary links (dpkg-shlibdeps wants a debian/control).
shlibs=$out_dir/shlibdeps
rm -rf -- "$shlibs" && mkdir -p "$shlibs/debian"
printf 'Source: retrans-exporter\n\nPackage: retrans-exporter\nArchitecture: any\n' >"$shlibs/debian/control"
shlibdeps_output=$(cd "$shlibs" && dpkg-shlibdeps -O "$stage/usr/bin/retrans-exporter" 2>"$shlibs/stderr") \
  || die "dpkg-shlibdeps failed on the staged binary: $(cat "$shlibs/stderr")"
depends=$(sed -n 's/^shlibs:Depends=//p' <<<"$shlibdeps_output")
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies of the binary: $(cat "$shlibs/stderr")"
rm -rf -- "$shlibs"

(cd "$stage" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    -e "s/@DEPENDS@/$depends/" "$debian/control.in" >"$stage/DEBIAN/control"

deb=$out_dir/retrans-exporter_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
