#!/usr/bin/env bash
# Install the Debian packages pincus needs. Idempotent: does nothing when all are present.
set -euo pipefail

PKGS=(lxc lxc-dev gcc pkg-config btrfs-progs rsync busybox-static debootstrap xz-utils
      iproute2 libbtrfsutil-dev)
BPO_PKGS=(incus)

missing=()
for p in "${PKGS[@]}" "${BPO_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/pincus-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q || true   # third-party lists may be unreachable; Debian's are what we need
apt-get install -y -q --no-install-recommends "${PKGS[@]}"
apt-get install -y -q --no-install-recommends -t bookworm-backports "${BPO_PKGS[@]}" libbtrfsutil-dev btrfs-progs
