#!/usr/bin/env bash
# Runs a command inside the Debian sid root (conformance/sid/make-root.sh) in a private mount
# namespace where that root is a real mount point and the root of the namespace (pivot_root,
# not chroot: with a chroot every runtime fails on "/" propagation).
#
#   HULL_BIN=/path/to/hull conformance/sid/enter.sh CMD [ARGS...]
#
# - the binary under test is bind-mounted at /usr/local/bin/hull inside (it is static);
# - host /tmp, /run/hull-conf and the directories in HULL_SID_BIND (colon-separated, e.g. the
#   checkout) appear at the same paths inside, so bundles and test binaries work unchanged;
# - /run is a fresh tmpfs, so daemons started inside have their own state;
# - /sys/fs/cgroup/unified is unmounted: crun refuses hybrid cgroups otherwise; every runtime
#   gets the same view.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=${HULL_SID_ROOT:-/var/cache/hull/sid-root}
[ -x "$root/usr/bin/podman" ] || root=$("$here/make-root.sh" | tail -n 1)
[ $# -gt 0 ] || set -- /bin/bash
export HULL_SID_ROOT=$root
exec unshare --mount --propagation private -- "$here/enter-inner.sh" "$@"
