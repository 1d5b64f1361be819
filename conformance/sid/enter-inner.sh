#!/usr/bin/env bash
# The part of enter.sh that runs in the new mount namespace (see there).
set -euo pipefail
root=$HULL_SID_ROOT
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --make-rslave "$root/sys"
if mountpoint -q "$root/sys/fs/cgroup/unified"; then
  umount -l "$root/sys/fs/cgroup/unified"
  # What is left there is a directory of the host's /sys/fs/cgroup tmpfs, where crun, seeing
  # no cgroup2, makes a plain directory per container and never removes it: give it a tmpfs
  # of this namespace's own instead, gone when the namespace is.
  mount -t tmpfs -o mode=755,size=4m tmpfs "$root/sys/fs/cgroup/unified"
fi
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$root/run/lock" "$root/tmp" /run/hull-conf "$root/run/hull-conf"
mount --rbind /tmp "$root/tmp"
mount --rbind /run/hull-conf "$root/run/hull-conf"
IFS=: read -ra binds <<< "${HULL_SID_BIND:-}"
for d in "${binds[@]}"; do
  [ -n "$d" ] && [ -e "$d" ] || continue
  mkdir -p "$root$d"; mount --rbind "$d" "$root$d"
done
if [ -n "${HULL_BIN:-}" ] && [ -f "$HULL_BIN" ]; then
  [ -e "$root/usr/local/bin/hull" ] || : > "$root/usr/local/bin/hull"
  mount --bind "$HULL_BIN" "$root/usr/local/bin/hull"
fi
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
exec "$@"
