#!/usr/bin/env bash
# AppArmor for real: boots the pure cgroup v2 test VM (../run-v2.sh) with Debian's kernel and
# AppArmor as the major LSM (`apparmor=1 security=apparmor`; the development host runs no LSM),
# with the host's apparmor_parser (Debian package apparmor) in the image, and runs the `lsm`
# conformance tests there including the ignored ones that need AppArmor: a profile loaded with
# apparmor_parser shows in the container's /proc/self/attr/current, its deny rule is enforced,
# exec runs under the container's profile or the one it is given, a profile that is not loaded
# fails create. The other `lsm` tests check what a host without SELinux does.
#
#   conformance/vm/apparmor/run.sh [-- TEST-BINARY-ARGS...]
#
# About a minute under TCG after the incremental build. Exit status as run-v2.sh's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
parser=$(command -v apparmor_parser || true)
if [ -z "$parser" ]; then
    echo "apparmor/run.sh: installing apparmor (for apparmor_parser)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apparmor >/dev/null
    parser=$(command -v apparmor_parser)
fi
[ "${1:-}" = -- ] && shift
export HULL_VM_CMDLINE="apparmor=1 security=apparmor ${HULL_VM_CMDLINE:-}"
export HULL_VM_TOOLS="$parser ${HULL_VM_TOOLS:-}"
exec "$here/../run-v2.sh" lsm -- --include-ignored "$@"
