#!/usr/bin/env bash
# Traces every instruction hull runs in the commands of a container's life (the benchmark's
# and a shim's: create, start, state, kill, delete, run, exec; with and without a seccomp
# filter) and writes one address file per command into OUTDIR (see steptrace.c). Takes a
# few minutes: single-stepping runs about 10^5 instructions a second.
#
#   scripts/order/profile.sh HULL_BIN OUTDIR      (root; HULL_BIN unstripped, static non-PIE)
#
# Runs in a private mount namespace with a hybrid host's /sys/fs/cgroup/unified unmounted,
# as benches/run.sh does, so the traced path is the benchmarked one.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $# == 2 ]] || { echo "usage: $0 HULL_BIN OUTDIR" >&2; exit 2; }
bin=$(realpath "$1")
out=$(realpath -m "$2")

if [[ ${PROFILE_INNER:-} != 1 ]]; then
    [[ $(id -u) == 0 ]] || { echo "$0: must run as root" >&2; exit 1; }
    mkdir -p "$out"
    tmp=$(mktemp -d /tmp/hull-order.XXXXXX)
    trap 'rm -rf "$tmp"' EXIT
    gcc -O2 -o "$tmp/steptrace" "$here/steptrace.c"
    for b in plain seccomp nocgns; do
        mkdir -p "$tmp/$b/rootfs/bin"
        cp /bin/busybox "$tmp/$b/rootfs/bin/busybox"
        ln -s busybox "$tmp/$b/rootfs/bin/true"
        ln -s busybox "$tmp/$b/rootfs/bin/sleep"
        (cd "$tmp/$b" && "$bin" spec)
    done
    python3 - "$tmp" <<'EOF'
import json, sys
tmp = sys.argv[1]
for b in ("plain", "seccomp", "nocgns"):
    p = f"{tmp}/{b}/config.json"
    c = json.load(open(p))
    c["process"]["terminal"] = False
    c["process"]["args"] = ["/bin/sleep", "1000000"] if b == "seccomp" else ["/bin/true"]
    if b == "seccomp":
        # A few rules of each kind a container engine's profile has (names, an argument
        # condition, an errno action). A full profile takes libseccomp ~10^8 steps here.
        c["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["kexec_load", "swapon", "swapoff"], "action": "SCMP_ACT_ERRNO",
                 "errnoRet": 1},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            ],
        }
    if b == "nocgns":
        # No cgroup namespace (docker's default on cgroup v1 hosts, runc 1.1's spec): the init
        # mounts the cgroup hierarchies itself.
        ns = c["linux"]["namespaces"]
        c["linux"]["namespaces"] = [n for n in ns if n["type"] != "cgroup"]
    json.dump(c, open(p, "w"), indent=1)
EOF
    PROFILE_INNER=1 TMPD=$tmp unshare -m --propagation private "$0" "$@"
    exit
fi

# In the private mount namespace.
if mountpoint -q /sys/fs/cgroup/unified && [[ $(stat -f -c %T /sys/fs/cgroup) != cgroup2fs ]]; then
    umount /sys/fs/cgroup/unified
fi
st=$TMPD/steptrace
limit=$(printf '%x' $((1 << 30)))
root=$TMPD/root
id=hullorder-$$
h() { "$bin" --root "$root" "$@"; }
trace() { # name, hull args...
    local name=$1
    shift
    "$st" "$out/$name.txt" "$limit" "$bin" --root "$root" "$@" >/dev/null
}
cleanup() { for c in $(ls -A "$root" 2>/dev/null); do h delete --force "$c" || true; done; }
trap cleanup EXIT

wait_created() {
    for _ in $(seq 600); do
        h state "$1" 2>/dev/null | grep -q '"status": "created"' && return
        sleep 0.1
    done
    echo "$0: $1 never reached created" >&2
    exit 1
}

# A lifecycle: create (its init keeps being traced until start execs /bin/true), state,
# start, kill of a stopped container, delete.
"$st" "$out/create.txt" "$limit" "$bin" --root "$root" create --bundle "$TMPD/plain" \
    --pid-file "$TMPD/pid" "$id-c" >/dev/null &
tracer=$!
wait_created "$id-c"
trace state state "$id-c"
trace start start "$id-c"
wait $tracer
sleep 0.2
trace delete delete "$id-c"
trace run run --bundle "$TMPD/plain" "$id-r"

"$st" "$out/create-nocgns.txt" "$limit" "$bin" --root "$root" create --bundle "$TMPD/nocgns" \
    "$id-n" >/dev/null &
tracer=$!
wait_created "$id-n"
h start "$id-n"
wait $tracer
sleep 0.2
h delete "$id-n"

# The seccomp path (create), then exec into that running container, kill, delete --force.
"$st" "$out/create-seccomp.txt" "$limit" "$bin" --root "$root" create \
    --bundle "$TMPD/seccomp" "$id-x" >/dev/null &
tracer=$!
wait_created "$id-x"
h start "$id-x"
wait $tracer
trace exec exec "$id-x" /bin/true
trace kill kill "$id-x" KILL
sleep 0.2
trace delete-force delete --force "$id-x"
ls "$out"
