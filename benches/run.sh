#!/usr/bin/env bash
# Side-by-side benchmark: hull vs crun vs runc (create/start/delete and run of
# /bin/true on a busybox bundle). See benches/README.md.
#
#   sudo benches/run.sh                       # N=200 iterations, 10 warmup
#   N=20 WARMUP=2 HULL_BIN=/usr/bin/crun benches/run.sh
#
# Env: N, WARMUP, HULL_BIN, CRUN_BIN, RUNC_BIN, RUNTIMES ("hull crun runc"),
#      JSON (write machine-readable results to this file), SEED (task order),
#      KEEP_TMP=1.
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

# Runs inside the private mount namespace (see umount in __inner): force-delete
# leftover containers of this run and remove their leftover cgroup dirs.
ns_cleanup() {
    local name bin root id
    for name in $RUNTIMES; do
        bin=$(bin_of "$name")
        root="$BENCH_TMP/root-$name"
        [[ -d $root ]] || continue
        for id in $(ls -A "$root"); do
            [[ $id == "$BENCH_PREFIX"-* ]] || continue
            "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
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

in_private_ns() { # run "$self" "$@" in a private mount ns with cgroups fixed up
    unshare -m --propagation private "$self" "$@"
}

case ${1:-} in
__inner | __cleanup)
    # In the private mount namespace. crun refuses hybrid cgroups, so hide the
    # cgroup2 'unified' mount from all three runtimes alike (fair comparison).
    if [[ $BENCH_CGROUPS == hybrid ]]; then
        umount /sys/fs/cgroup/unified
    fi
    rc=0
    if [[ $1 == __inner ]]; then
        # shellcheck disable=SC2046
        "$BENCH_TMP/bench" --bundle "$BENCH_TMP/bundle" --tmp "$BENCH_TMP" \
            --prefix "$BENCH_PREFIX" -n "$N" --warmup "$WARMUP" \
            --json "${JSON:-}" --note "$BENCH_NOTE" ${SEED:+--seed "$SEED"} \
            $(for r in $RUNTIMES; do echo "$r=$(bin_of "$r")"; done) || rc=$?
    fi
    ns_cleanup
    exit $rc
    ;;
"") ;;
*) die "unknown argument '$1' (configure with env vars, see header)" ;;
esac

[[ $(id -u) == 0 ]] || die "must run as root"
command -v python3 >/dev/null || die "python3 not found (edits config.json)"
command -v rustc >/dev/null || die "rustc not found (compiles benches/bench.rs)"
command -v unshare >/dev/null || die "unshare not found"
[[ -x /bin/busybox ]] || die "/bin/busybox missing (apt-get install busybox-static)"

export N=${N:-200} WARMUP=${WARMUP:-10} RUNTIMES=${RUNTIMES:-hull crun runc}
[[ $N =~ ^[0-9]+$ && $N -ge 2 ]] || die "N must be an integer >= 2"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be an integer"
[[ ${RUNTIMES%% *} == hull ]] || die "RUNTIMES must start with hull"

export CRUN_BIN=${CRUN_BIN:-$(command -v crun || true)}
export RUNC_BIN=${RUNC_BIN:-$(command -v runc || true)}
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
for r in $RUNTIMES; do
    b=$(bin_of "$r")
    [[ -n $b && -x $b ]] || die "binary for $r not found (set ${r^^}_BIN)"
done

BENCH_TMP=$(mktemp -d /tmp/hull-bench.XXXXXX)
BENCH_PREFIX="hullbench-$$"
BENCH_CGROUPS=$(cgroup_mode)
export BENCH_TMP BENCH_PREFIX BENCH_CGROUPS

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Safety net (bench.py already cleans up after itself): must also run in a
    # private ns with unified unmounted, or crun refuses to delete.
    in_private_ns __cleanup || true
    if [[ ${KEEP_TMP:-} == 1 ]]; then
        echo "run.sh: kept $BENCH_TMP" >&2
    else
        rm -rf "$BENCH_TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The measuring program: one std-only Rust file, no cargo project needed.
rustc -O --edition 2021 -o "$BENCH_TMP/bench" "$here/bench.rs" ||
    die "compiling benches/bench.rs failed"

# Bundle: static busybox rootfs + `runc spec` config running /bin/true.
bundle="$BENCH_TMP/bundle"
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
spec_bin=${RUNC_BIN:-$HULL_BIN}
(cd "$bundle" && "$spec_bin" spec) || die "'$spec_bin spec' failed"
python3 - "$bundle/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=1)
EOF

ver() { "$1" --version 2>/dev/null | head -n1 || echo "?"; }
note="cgroups: $BENCH_CGROUPS"
[[ $BENCH_CGROUPS == hybrid ]] && note+=" (/sys/fs/cgroup/unified unmounted in a private mount ns for all runtimes)"
note+=$'\n'"bundle: busybox rootfs, config from '$(basename "$spec_bin") spec', args [/bin/true], terminal=false"
for r in $RUNTIMES; do
    b=$(bin_of "$r")
    note+=$'\n'"  $(printf '%-5s' "$r") $b  ($(ver "$b"))"
done
export BENCH_NOTE=$note

in_private_ns __inner
