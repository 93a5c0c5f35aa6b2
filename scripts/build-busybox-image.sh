#!/usr/bin/env bash
# Build an Incus-format busybox container image from Debian's busybox-static.
#   scripts/build-busybox-image.sh OUTDIR
# Writes OUTDIR/busybox.tar.xz (unified: metadata.yaml + rootfs/) and the split pair
# OUTDIR/busybox-meta.tar.xz + OUTDIR/busybox-rootfs.tar.xz. Idempotent: reuses existing files.
set -euo pipefail
out=${1:?usage: build-busybox-image.sh OUTDIR}
mkdir -p "$out"
[ -s "$out/busybox.tar.xz" ] && [ -s "$out/busybox-meta.tar.xz" ] && [ -s "$out/busybox-rootfs.tar.xz" ] && exit 0
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox-static is not installed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,run,var/log,home}
cp "$bb" "$r/bin/busybox"
for a in $("$bb" --list); do
    case $a in busybox|init) ;; *) ln -sf /bin/busybox "$r/bin/$a" ;; esac
done
chmod 1777 "$r/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
printf 'root::0:0:99999:7:::\n' > "$r/etc/shadow"
printf 'root:x:0:\n' > "$r/etc/group"
printf 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' > "$r/etc/profile"
echo busybox > "$r/etc/hostname"
# init: PID 1 stops cleanly on SIGPWR (what liblxc and Incus send to halt), TERM and INT.
cat > "$r/sbin/init" <<'INIT'
#!/bin/sh
trap 'exit 0' PWR TERM INT
mount -t tmpfs tmpfs /run 2>/dev/null
while true; do sleep 60 & wait $!; done
INIT
chmod 755 "$r/sbin/init"

now=$(date +%s)
cat > "$work/metadata.yaml" <<META
architecture: x86_64
creation_date: $now
properties:
  architecture: x86_64
  description: Busybox x86_64
  name: busybox-x86_64
  os: Busybox
  release: "$("$bb" | head -1 | awk '{print $2}')"
templates: {}
META
tar -C "$work" --numeric-owner --owner=0 --group=0 -cJf "$out/busybox.tar.xz" metadata.yaml rootfs
tar -C "$work" --numeric-owner --owner=0 --group=0 -cJf "$out/busybox-meta.tar.xz" metadata.yaml
tar -C "$r" --numeric-owner --owner=0 --group=0 -cJf "$out/busybox-rootfs.tar.xz" .
ls -la "$out"
