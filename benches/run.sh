#!/usr/bin/env bash
# Side-by-side benchmark: hull vs crun 1.28 vs runc 1.3.6, inside the Debian sid root
# (conformance/sid): lifecycle and run of /bin/true on a busybox bundle, exec of /bin/true
# into a running container, and 100 containers with 8 in flight. See benches/README.md.
#
#   sudo benches/run.sh                       # N=200 iterations, 10 warmup
#   HOST_PEERS=1 benches/run.sh               # also the host's Debian 12 crun/runc
#   N=20 WARMUP=2 SCALE_ROUNDS=1 benches/run.sh
#
# Env: N, WARMUP, SCALE_ROUNDS, HULL_BIN, CRUN_BIN, RUNC_BIN, RUNTIMES ("hull crun runc"),
#      SID (1: in the sid root; 0: on the host with its own crun/runc), HOST_PEERS=1,
#      HULL_BASE (another hull binary, e.g. before a change: run as "hull-base"),
#      JSON (write machine-readable results to this file), SEED (task order), KEEP_TMP=1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self="$here/run.sh"
repo=$(dirname "$here")

die() { echo "run.sh: $*" >&2; exit 1; }

bin_of() { # runtime name -> binary
    case $1 in
        hull) echo "$HULL_BIN" ;;
        crun) echo "$CRUN_BIN" ;;
        runc) echo "$RUNC_BIN" ;;
        hull-base) echo "$BENCH_TMP/hull-base" ;;
        *) echo "$BENCH_TMP/host/$1" ;;
    esac
}

cgroup_mode() {
    if [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]]; then
        echo v2
    elif mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
        echo hybrid
    else
        echo v1
    fi
}

is_peer_copy() { [[ $1 == crun-* || $1 == runc-* ]]; } # a HOST_PEERS runtime

run_rt() { # runtime name, args...: runs that runtime (host copies with their library dir)
    local name=$1
    shift
    if is_peer_copy "$name"; then
        LD_LIBRARY_PATH=$BENCH_TMP/host/lib "$(bin_of "$name")" "$@"
    else
        "$(bin_of "$name")" "$@"
    fi
}

# Runs inside the private mount namespace (see umount in __inner): force-delete
# leftover containers of this run and remove their leftover cgroup dirs.
ns_cleanup() {
    local name root id
    for name in $RUNTIMES; do
        root="$BENCH_TMP/root-$name"
        [[ -d $root ]] || continue
        for id in $(ls -A "$root"); do
            [[ $id == "$BENCH_PREFIX"-* ]] || continue
            run_rt "$name" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    # Empty cgroup dirs named after our container ids (only ours: unique prefix).
    find /sys/fs/cgroup -depth -type d -name "$BENCH_PREFIX-*" \
        -exec rmdir {} + 2>/dev/null || true
    # With unified unmounted, crun 1.8 creates <id>/cgroup.procs as plain files
    # on the /sys/fs/cgroup tmpfs (hidden under the unified mount outside).
    if [[ -d /sys/fs/cgroup/unified ]] && ! mountpoint -q /sys/fs/cgroup/unified &&
        [[ $(stat -f -c %T /sys/fs/cgroup/unified) == tmpfs ]]; then
        rm -rf /sys/fs/cgroup/unified/"$BENCH_PREFIX"-*
    fi
}

in_private_ns() { # run "$self" "$@" in a private mount ns (the sid root's, or the host's)
    if [[ $SID == 1 ]]; then
        HULL_SID_BIND=$repo "$repo/conformance/sid/enter.sh" "$self" "$@"
    else
        unshare -m --propagation private "$self" "$@"
    fi
}

case ${1:-} in
__inner | __cleanup)
    # In the private mount namespace. crun refuses hybrid cgroups, so hide the
    # cgroup2 'unified' mount from all three runtimes alike (fair comparison).
    # (conformance/sid/enter.sh has done it already in the sid root.)
    if [[ $BENCH_CGROUPS == hybrid ]] && mountpoint -q /sys/fs/cgroup/unified; then
        umount /sys/fs/cgroup/unified
    fi
    rc=0
    if [[ $1 == __inner ]]; then
        for r in $RUNTIMES; do # versions as seen where they run
            v=$(run_rt "$r" --version 2>/dev/null | head -n1 || true)
            BENCH_NOTE+=$'\n'"  $(printf '%-9s' "$r") $(bin_of "$r")  (${v:-?})"
        done
        # shellcheck disable=SC2046
        "$BENCH_TMP/bench" --bundle "$BENCH_TMP/bundle" --exec-bundle "$BENCH_TMP/bundle-sleep" \
            --tmp "$BENCH_TMP" --prefix "$BENCH_PREFIX" -n "$N" --warmup "$WARMUP" \
            --scale-rounds "$SCALE_ROUNDS" \
            --json "${JSON:-}" --note "$BENCH_NOTE" ${SEED:+--seed "$SEED"} \
            $(for r in $RUNTIMES; do
                is_peer_copy "$r" && echo "--lib $r=$BENCH_TMP/host/lib"
                echo "$r=$(bin_of "$r")"
            done) || rc=$?
    fi
    ns_cleanup
    exit $rc
    ;;
__spec)
    cd "$2" && "$RUNC_BIN" spec
    exit
    ;;
"") ;;
*) die "unknown argument '$1' (configure with env vars, see header)" ;;
esac

[[ $(id -u) == 0 ]] || die "must run as root"
export SID=${SID:-1}
command -v python3 >/dev/null || die "python3 not found (edits config.json)"
command -v rustc >/dev/null || die "rustc not found (compiles benches/bench.rs)"
command -v unshare >/dev/null || die "unshare not found"
[[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install busybox-static)"

export N=${N:-200} WARMUP=${WARMUP:-10} SCALE_ROUNDS=${SCALE_ROUNDS:-3}
export RUNTIMES=${RUNTIMES:-hull crun runc}
[[ $N =~ ^[0-9]+$ && $N -ge 2 ]] || die "N must be an integer >= 2"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be an integer"
[[ ${RUNTIMES%% *} == hull ]] || die "RUNTIMES must start with hull"

if [[ $SID == 1 ]]; then
    # The peers of today: crun and runc of the sid root, at these paths inside it.
    sid_root=$("$repo/conformance/sid/make-root.sh" | tail -n 1) || die "no sid root"
    export CRUN_BIN=${CRUN_BIN:-/usr/bin/crun} RUNC_BIN=${RUNC_BIN:-/usr/bin/runc}
    for b in "$CRUN_BIN" "$RUNC_BIN"; do
        [[ -x $sid_root$b ]] || die "$b missing in the sid root $sid_root"
    done
else
    export CRUN_BIN=${CRUN_BIN:-$(command -v crun || true)}
    export RUNC_BIN=${RUNC_BIN:-$(command -v runc || true)}
fi
if [[ -z ${HULL_BIN:-} ]]; then
    # Always (re)build: cargo is a no-op when up to date, and benchmarking a
    # stale binary is an easy mistake.
    if command -v cargo >/dev/null; then
        echo "run.sh: scripts/build-release.sh (static release build)" >&2
        HULL_BIN=$("$repo/scripts/build-release.sh") || die "cargo build failed"
    else
        die "cargo not found: set HULL_BIN"
    fi
fi
export HULL_BIN
[[ -x $HULL_BIN ]] || die "hull binary $HULL_BIN not found"
[[ $SID == 1 ]] || for r in $RUNTIMES; do
    b=$(bin_of "$r")
    [[ -n $b && -x $b ]] || die "binary for $r not found (set ${r^^}_BIN)"
done

BENCH_TMP=$(mktemp -d /tmp/hull-bench.XXXXXX)
# State roots, pid files and the bundle on a tmpfs, as /run is on a real host: here /tmp is
# ext4 mounted with discard, where unlinking a state dir took 15-35 ms for every runtime.
mount -t tmpfs -o mode=700,size=512m hull-bench "$BENCH_TMP" || { rmdir "$BENCH_TMP"; die "mounting a tmpfs on $BENCH_TMP"; }
BENCH_PREFIX="hullbench-$$"
BENCH_CGROUPS=$(cgroup_mode)
export BENCH_TMP BENCH_PREFIX BENCH_CGROUPS

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Safety net (bench.rs already cleans up after itself): must also run in a
    # private ns with unified unmounted, or crun refuses to delete.
    in_private_ns __cleanup || true
    if [[ ${KEEP_TMP:-} == 1 ]]; then
        echo "run.sh: kept $BENCH_TMP (a tmpfs: umount it when done)" >&2
    else
        umount "$BENCH_TMP" && rmdir "$BENCH_TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The measuring program: std-only Rust (bench.rs + bench/report.rs), no cargo project needed.
# Built here, run inside the sid root: its glibc is newer than the host's.
rustc -O --edition 2021 -o "$BENCH_TMP/bench" "$here/bench.rs" ||
    die "compiling benches/bench.rs failed"
if [[ -n ${HULL_BASE:-} ]]; then
    cp "$HULL_BASE" "$BENCH_TMP/hull-base" || die "HULL_BASE=$HULL_BASE: cannot copy"
    RUNTIMES+=" hull-base"
fi
if [[ $SID == 1 ]]; then
    # hull is static: a copy under /tmp is visible inside the sid root at the same path.
    cp "$HULL_BIN" "$BENCH_TMP/hull"
    HULL_BIN=$BENCH_TMP/hull
    if [[ ${HOST_PEERS:-} == 1 ]]; then
        # The host's Debian 12 crun and runc, run inside the sid root with its glibc (newer,
        # compatible); the one library sid lacks (crun 1.8's libyajl) comes along.
        mkdir -p "$BENCH_TMP/host/lib"
        hcrun=$(command -v crun) && hrunc=$(command -v runc) || die "HOST_PEERS=1: no crun/runc on the host"
        hv() { "$1" --version | head -n1 | grep -o '[0-9][0-9.]*' | head -n1 | cut -d. -f1,2; }
        cn="crun-$(hv "$hcrun")" rn="runc-$(hv "$hrunc")"
        cp "$hcrun" "$BENCH_TMP/host/$cn"
        cp "$hrunc" "$BENCH_TMP/host/$rn"
        ldd "$hcrun" | awk '/libyajl/ {print $3}' | xargs -r -I{} cp -L {} "$BENCH_TMP/host/lib/"
        RUNTIMES+=" $cn $rn"
    fi
fi

# Bundle: static busybox rootfs + `runc spec` config running /bin/true; a second bundle on
# the same rootfs runs /bin/sleep, the container that exec goes into.
bundle="$BENCH_TMP/bundle"
mkdir -p "$bundle/rootfs/bin" "$BENCH_TMP/bundle-sleep"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
ln -s busybox "$bundle/rootfs/bin/sleep"
spec_bin=${RUNC_BIN:-$HULL_BIN}
if [[ $SID == 1 ]]; then
    in_private_ns __spec "$bundle" || die "'$spec_bin spec' in the sid root failed"
else
    (cd "$bundle" && "$spec_bin" spec) || die "'$spec_bin spec' failed"
fi
# crun 1.8 (HOST_PEERS) refuses the ociVersion runc 1.3 writes; the config is 1.0-compatible.
python3 - "$bundle/config.json" "$BENCH_TMP/bundle-sleep/config.json" "${HOST_PEERS:-}" <<'EOF'
import json, sys
p, q = sys.argv[1], sys.argv[2]
c = json.load(open(p))
if sys.argv[3] == "1":
    c["ociVersion"] = "1.0.2-dev"
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=1)
c["process"]["args"] = ["/bin/sleep", "1000000"]
c["root"]["path"] = p.rsplit("/", 1)[0] + "/rootfs"
json.dump(c, open(q, "w"), indent=1)
EOF

note="cgroups: $BENCH_CGROUPS"
[[ $SID == 1 ]] && note="in the Debian sid root $sid_root ($(cat "$sid_root/etc/debian_version")); $note"
[[ $BENCH_CGROUPS == hybrid ]] && note+=" (/sys/fs/cgroup/unified unmounted in a private mount ns for all runtimes)"
note+=$'\n'"bundle: busybox rootfs, config from '$(basename "$spec_bin") spec', args [/bin/true], terminal=false"
export BENCH_NOTE=$note

in_private_ns __inner
