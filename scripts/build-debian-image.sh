#!/usr/bin/env bash
# Build a unified Incus container image of Debian (minbase) with debootstrap, for benchmarks.
#   scripts/build-debian-image.sh OUTDIR [SUITE]        (SUITE defaults to bookworm)
# Writes OUTDIR/debian.tar.xz (metadata.yaml + templates/ + rootfs/). Idempotent: does nothing
# when the output exists. Environment:
#   MIRROR=URL        apt mirror (default: the first Debian URI in /etc/apt/sources.list.d, else
#                     http://deb.debian.org/debian)
#   DEBIAN_INIT=X     systemd (default): systemd-sysv is PID 1, as in the images Incus users pull;
#                     sh: a 4-line shell init that halts on SIGPWR, for hosts where systemd can't boot.
set -euo pipefail
out=${1:?usage: build-debian-image.sh OUTDIR [SUITE]}
suite=${2:-bookworm}
init=${DEBIAN_INIT:-systemd}
mkdir -p "$out"
[ -s "$out/debian.tar.xz" ] && exit 0
command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "must run as root (debootstrap)" >&2; exit 1; }

if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | awk '{print $2}' | grep -m1 '/debian/\?$' || true)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
case $(dpkg --print-architecture) in
    amd64) arch=x86_64 ;; arm64) arch=aarch64 ;; *) arch=$(uname -m) ;;
esac

work=$(mktemp -d /var/tmp/pincus-debian-XXXXXX)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
include=ca-certificates,iproute2,procps,less
[ "$init" = systemd ] && include=$include,systemd-sysv,dbus
debootstrap --variant=minbase --include="$include" "$suite" "$r" "$MIRROR"

echo "$suite" > "$r/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$r/etc/hosts"
: > "$r/etc/machine-id"
if [ "$init" = sh ]; then
    rm -f "$r/sbin/init"
    cat > "$r/sbin/init" <<'INIT'
#!/bin/sh
trap 'exit 0' PWR TERM INT
mount -t tmpfs tmpfs /run 2>/dev/null
while true; do sleep 60 & wait $!; done
INIT
    chmod 755 "$r/sbin/init"
fi
chroot "$r" apt-get clean
rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/log/*.log "$r"/usr/share/doc/* \
       "$r"/usr/share/man/* "$r"/usr/share/locale/*

mkdir -p "$work/templates"
echo '{{ container.name }}' > "$work/templates/hostname.tpl"
printf '127.0.0.1 localhost\n127.0.1.1 {{ container.name }}\n::1 localhost ip6-localhost ip6-loopback\n' \
    > "$work/templates/hosts.tpl"
cat > "$work/metadata.yaml" <<META
architecture: $arch
creation_date: $(date +%s)
properties:
  architecture: $arch
  description: Debian $suite $arch (minbase, $init)
  name: debian-$suite-$arch-minbase
  os: Debian
  release: $suite
  variant: minbase
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
  /etc/hosts:
    when: [create, copy]
    template: hosts.tpl
META
tar -C "$work" --numeric-owner --xattrs --xattrs-include='*' -I 'xz -T0' \
    -cf "$out/debian.tar.xz.part" metadata.yaml templates rootfs
mv "$out/debian.tar.xz.part" "$out/debian.tar.xz"
ls -la "$out/debian.tar.xz"
