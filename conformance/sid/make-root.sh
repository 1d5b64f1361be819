#!/usr/bin/env bash
# Builds (once) the Debian sid root that holds today's client stack and peers: containerd 2,
# podman 5, docker 28, buildah, crun 1.2x, runc 1.3, criu 4. The root is cached outside the
# checkout (HULL_SID_ROOT, default /var/cache/hull/sid-root) and reused while its package list
# matches; conformance/sid/enter.sh runs commands inside it.
set -euo pipefail
root=${HULL_SID_ROOT:-/var/cache/hull/sid-root}
mirror=${HULL_SID_MIRROR:-http://deb.debian.org/debian}
pkgs="containerd podman conmon netavark aardvark-dns passt docker.io docker-cli buildah crun runc criu
  uidmap iproute2 busybox-static ca-certificates procps iptables fuse-overlayfs catatonit tini umoci"
want=$(echo $pkgs | tr ' ' '\n' | sort | tr '\n' ' ')
stamp=$root/.hull-sid-packages
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$root"; exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
apt_opts=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -o Dpkg::Use-Pty=0)
if [ ! -x "$root/usr/bin/apt-get" ]; then
  rm -rf "$root.tmp"; mkdir -p "$root.tmp"
  # sid's Release file is past its Valid-Until date on this registry; debootstrap does not check it.
  debootstrap --variant=minbase sid "$root.tmp" "$mirror" >&2
  rm -rf "$root"; mv "$root.tmp" "$root"
fi
# Services must not start inside the root while packages install.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
chroot "$root" apt-get "${apt_opts[@]}" update -qq >&2
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" install -y -qq $pkgs >&2
# podman --userns=auto allocates from the "containers" user's subordinate ranges.
chroot "$root" sh -c 'id containers >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin containers'
grep -q '^containers:' "$root/etc/subuid" 2>/dev/null || echo 'containers:200000:655360' >> "$root/etc/subuid"
grep -q '^containers:' "$root/etc/subgid" 2>/dev/null || echo 'containers:200000:655360' >> "$root/etc/subgid"
chroot "$root" apt-get clean
echo "$want" > "$stamp"
echo "$root"
