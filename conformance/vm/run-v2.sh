#!/usr/bin/env bash
# Run hull's conformance test binaries inside a qemu VM on a pure cgroup v2 host.
# See conformance/vm/README.md.
#
# usage: conformance/vm/run-v2.sh [--shell | --script FILE] [TEST...] [-- TEST-BINARY-ARGS...]
#   --script FILE: run FILE with sh inside the VM (after the cgroup setup, HULL_BIN set, the
#         selected test binaries under /tests) instead of the test binaries; its exit code is
#         the result.
#   --shell: boot to an interactive shell on the console (stdio) instead; exit it to power off.
#   TEST: conformance test binaries (file names under conformance/tests/ without .rs) or
#         shell tests conformance/vm/tests/NAME.sh (run with busybox sh inside the VM);
#         default $HULL_VM_TESTS or "v2-smoke cgroups_memory_cpu cgroups_io_devices cgroups_unified cgroups_lifecycle cgroups_placement cgroups_edge update events lifecycle features_namespaces features_mounts features_process features_exec security hooks_console cli crash bad_input spec13_scheduling spec13_cpu_memory spec13_devices mounts lsm process_exec process_join hooks2 rootless shim_exit userns_hooks runc_parity debug_log smoke systemd_cgroup",
#         keeping only those that exist (with --script: none).
#   TEST-BINARY-ARGS: passed to every test binary (libtest filters, --skip NAME, --exact ...).
# env:
#   HULL_VM_ACCEL    kvm | tcg | auto (default: kvm when /dev/kvm is usable)
#   HULL_VM_TIMEOUT  seconds before qemu is killed (default 300 with KVM, 900 with TCG)
#   HULL_VM_THREADS  --test-threads inside the VM (default 2)
#   HULL_VM_CACHE    where the extracted Debian kernel is kept (default /var/cache/hull-vm)
#   HULL_VM_KERNEL_PKG  Debian kernel package (default: what linux-image-amd64 depends on)
#   HULL_VM_VERBOSE=1   stream the whole serial console instead of the summary lines
#   HULL_VM_MODULES  kernel modules to insmod in the VM (default "loop bfq veth bridge fuse
#                    virtio_pci virtio_blk crc32c_generic ext4": loop devices and bfq for
#                    cgroups_io_devices.rs, veth and a bridge for spec13_devices' netDevices,
#                    /dev/fuse for mounts.rs, the ext4 scratch disk)
#   HULL_VM_DISK_SIZE  size of the ext4 scratch disk mounted on /tmp (default 4G, sparse)
#   HULL_VM_ROOT_CONTROLLERS  controllers /init enables in the root cgroup (default "all", as
#                    systemd does; "" leaves all the enabling to hull)
#   HULL_VM_CMDLINE  extra kernel command line (e.g. "apparmor=1 security=apparmor")
#   HULL_VM_TOOLS    extra host programs copied into the VM at the same paths, with their
#                    libraries (e.g. /sbin/apparmor_parser)
# Exit status: 0 when every selected test binary passed inside the VM, 1 otherwise (test
# failures, missing HULL-VM-DONE line after a timeout or a kernel panic, setup errors).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

log() { echo "run-v2: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

tests=()
targs=()
script=
shell=0
while [ $# -gt 0 ]; do
    case $1 in
    --)
        shift
        targs=("$@")
        break
        ;;
    --script)
        script=$(realpath "${2:?--script needs a file}")
        shift
        ;;
    --shell) shell=1 ;;
    -*) die "unknown option $1 (see the top of $0)" ;;
    *) tests+=("$1") ;;
    esac
    shift
done
explicit=1
if [ ${#tests[@]} -eq 0 ] && [ -z "$script" ]; then
    explicit=0
    read -r -a tests <<<"${HULL_VM_TESTS:-v2-smoke cgroups_memory_cpu cgroups_io_devices cgroups_unified cgroups_lifecycle cgroups_placement cgroups_edge update events lifecycle features_namespaces features_mounts features_process features_exec security hooks_console cli crash bad_input spec13_scheduling spec13_cpu_memory spec13_devices mounts lsm process_exec process_join hooks2 rootless shim_exit userns_hooks runc_parity debug_log smoke systemd_cgroup}"
fi

# ---------------------------------------------------------------------------
# Host packages
# ---------------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
[ -x /usr/bin/newuidmap ] || need_pkgs+=(uidmap)
[ -x /bin/busybox ] || need_pkgs+=(busybox-static)
command -v jq >/dev/null || need_pkgs+=(jq)
command -v mkfs.ext4 >/dev/null || need_pkgs+=(e2fsprogs)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# ---------------------------------------------------------------------------
# Kernel: a Debian linux-image package extracted into a cache (never installed: /boot and the
# bootloader stay untouched). Keyed by package name, which carries the kernel ABI.
# ---------------------------------------------------------------------------
cache=${HULL_VM_CACHE:-/var/cache/hull-vm}
mkdir -p "$cache" 2>/dev/null || cache=$repo/target/vm-cache
mkdir -p "$cache"
kpkg=${HULL_VM_KERNEL_PKG:-}
if [ -z "$kpkg" ]; then
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1 || true)
    if [ -z "$kpkg" ]; then
        apt-get update -qq || true
        kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1 || true)
    fi
    if [ -z "$kpkg" ]; then
        # offline: any kernel extracted before
        kpkg=$(find "$cache" -maxdepth 2 -name vmlinuz -printf '%h\n' 2>/dev/null |
            xargs -r -n1 basename | sort -V | tail -n1)
    fi
    [ -n "$kpkg" ] || die "cannot find a Debian kernel package (apt-cache depends linux-image-amd64)"
fi
kdir=$cache/$kpkg
if [ ! -f "$kdir/vmlinuz" ]; then
    log "fetching $kpkg"
    dl=$(mktemp -d "$cache/dl.XXXXXX")
    (cd "$dl" && apt-get download "$kpkg" >/dev/null 2>&1) ||
        { apt-get update -qq && (cd "$dl" && apt-get download "$kpkg" >/dev/null 2>&1); } ||
        die "apt-get download $kpkg failed"
    dpkg-deb -x "$dl"/*.deb "$dl/x"
    mkdir -p "$dl/k"
    cp "$dl"/x/boot/vmlinuz-* "$dl/k/vmlinuz"
    cp "$dl"/x/boot/config-* "$dl/k/config"
    # Modules are kept (small set of tools below may insmod them); cgroups, namespaces, the
    # 8250 serial console, tmpfs, devtmpfs and initramfs support are built in (=y).
    [ -d "$dl/x/lib/modules" ] && mv "$dl/x/lib/modules" "$dl/k/modules"
    rm -rf "$kdir"
    mv "$dl/k" "$kdir"
    rm -rf "$dl"
fi
for opt in CGROUPS MEMCG CGROUP_PIDS CPUSETS BLK_DEV_INITRD DEVTMPFS SERIAL_8250_CONSOLE; do
    grep -q "^CONFIG_$opt=y" "$kdir/config" || die "$kpkg: CONFIG_$opt is not built in"
done

# ---------------------------------------------------------------------------
# hull and the test binaries
# ---------------------------------------------------------------------------
log "building hull and the conformance test binaries"
hull=$(cargo build --bin hull --message-format=json 2>/dev/null |
    jq -r 'select(.reason=="compiler-artifact" and .target.name=="hull" and .executable!=null) | .executable' |
    tail -n1)
[ -x "$hull" ] || { cargo build --bin hull; die "cargo build did not report the hull binary"; }
declare -A tbin=()
while read -r name exe; do
    tbin[$name]=$exe
done < <(cargo test -p hull-conformance --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.reason=="compiler-artifact" and .executable!=null and .target.kind[0]=="test") | "\(.target.name) \(.executable)"')
[ ${#tbin[@]} -gt 0 ] || { cargo test -p hull-conformance --no-run; die "cargo test --no-run reported no test binaries"; }
for f in "$here"/tests/*.sh; do
    [ -e "$f" ] && tbin[$(basename "$f" .sh)]=$f
done

sel=()
for t in "${tests[@]}"; do
    if [ -n "${tbin[$t]:-}" ]; then
        sel+=("$t")
    elif [ $explicit = 1 ]; then
        die "no conformance test binary named '$t' (have: ${!tbin[*]})"
    else
        log "skipping '$t': no such test binary yet"
    fi
done
[ ${#sel[@]} -gt 0 ] || [ -n "$script" ] || [ $shell = 1 ] || die "no test binary to run"

# ---------------------------------------------------------------------------
# initramfs: a staging tree updated incrementally, packed into an uncompressed newc cpio
# (uncompressed: the guest unpacks it much faster than gzip under TCG).
# ---------------------------------------------------------------------------
tdir=$(dirname "$(dirname "$hull")")/vm
stage=$tdir/root
mkdir -p "$tdir"
exec 9>"$tdir/.lock"
flock -n 9 || { log "another run-v2.sh uses $tdir; waiting"; flock 9; }
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,root,tests,proc,sys,dev,run,tmp}

# copy $1 to $2 unless $2 has $1's mtime (set on copy); "strip" as $3 drops debug info
# (much smaller image)
put() {
    local src=$1 dst=$2
    if [ -L "$dst" ] || [ ! -e "$dst" ] || [ "$src" -nt "$dst" ] || [ "$src" -ot "$dst" ]; then
        mkdir -p "$(dirname "$dst")"
        if [ "${3:-}" = strip ] && command -v strip >/dev/null; then
            strip --strip-debug -o "$dst.tmp" "$src"
        else
            cp -L "$src" "$dst.tmp"
        fi
        chmod 755 "$dst.tmp"
        mv "$dst.tmp" "$dst"
        touch -r "$src" "$dst"
    fi
}
# every shared library of the given ELF files, plus the dynamic loader, at the same paths
put_libs() {
    local f lib
    for f in "$@"; do
        ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'
    done | sort -u | while read -r lib; do
        put "$lib" "$stage$lib"
    done
}

put /bin/busybox "$stage/bin/busybox"
if [ ! -e "$stage/bin/sh" ]; then
    /bin/busybox --list-full | while read -r a; do
        [ "$a" = bin/busybox ] || [ -e "$stage/$a" ] || ln -s /bin/busybox "$stage/$a"
    done
fi
put "$hull" "$stage/usr/local/bin/hull" strip
# hull ps runs `ps -ef`: use procps' ps (as on real hosts), not busybox's, which ignores -ef
hosttools=()
# losetup: busybox's has no --show (cgroups_io_devices.rs sets up a loop device with the bfq scheduler)
# dash: /bin/sh as on a Debian host (hooks2.rs runs `/bin/sh` with its own argv[0], which
#   busybox would take for an applet name)
# useradd/userdel, newuidmap/newgidmap (setuid root, as the uidmap package installs them) and
#   util-linux's unshare (--map-root-user): the unprivileged test users of rootless.rs
for tool in /usr/bin/ps /usr/sbin/losetup /bin/dash /usr/sbin/useradd /usr/sbin/userdel \
    /usr/bin/newuidmap /usr/bin/newgidmap /usr/bin/unshare ${HULL_VM_TOOLS:-}; do
    if [ -x "$tool" ]; then
        put "$tool" "$stage$tool"
        hosttools+=("$tool")
    fi
done
for tool in /usr/bin/newuidmap /usr/bin/newgidmap; do
    [ -e "$stage$tool" ] && chmod 4755 "$stage$tool"
done
[ -e "$stage/bin/dash" ] && ln -sfn dash "$stage/bin/sh"
selbins=()
for t in "${sel[@]}"; do
    if [[ ${tbin[$t]} == *.sh ]]; then
        put "${tbin[$t]}" "$stage/tests/$t"
    else
        put "${tbin[$t]}" "$stage/tests/$t" strip
        selbins+=("${tbin[$t]}")
    fi
done
for f in "$stage"/tests/* "$stage/hull-vm-script"; do
    [[ " ${sel[*]} " == *" $(basename "$f") "* ]] || rm -f "$f"
done
put_libs "$hull" ${hosttools[@]+"${hosttools[@]}"} ${selbins[@]+"${selbins[@]}"}
install -m 755 "$here/init.sh" "$stage/init"
# Kernel modules for what is not built in (loop devices, the bfq scheduler), dependencies
# first (read from each module's .modinfo: the package ships no modules.dep).
kver=$(ls "$kdir/modules" 2>/dev/null | head -n1)
rm -rf "$stage/lib/modules"
modlist=()
add_mod() {
    local f dep
    f=$(find "$kdir/modules/$kver/kernel" -name "$1.ko" | head -n1)
    [ -n "$f" ] || { log "warning: no kernel module $1 in $kpkg"; return; }
    [[ " ${modlist[*]:-} " == *" /lib/modules/$kver/$1.ko "* ]] && return
    for dep in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_mod "$dep"
    done
    mkdir -p "$stage/lib/modules/$kver"
    cp "$f" "$stage/lib/modules/$kver/$1.ko"
    modlist+=("/lib/modules/$kver/$1.ko")
}
if [ -n "$kver" ]; then
    for m in ${HULL_VM_MODULES-loop bfq veth bridge fuse virtio_pci virtio_blk crc32c_generic ext4}; do add_mod "$m"; done
fi
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$stage/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' >"$stage/etc/group"
# what useradd needs to allocate ids and subordinate ranges as on the host (the tests' users
# are made and removed inside the VM; the staged files stay as written here)
: >"$stage/etc/subuid"
: >"$stage/etc/subgid"
[ -f /etc/login.defs ] && cp /etc/login.defs "$stage/etc/login.defs"
mkdir -p "$stage/etc/skel" "$stage/var/mail" "$stage/var/log"
[ -n "$script" ] && install -m 755 "$script" "$stage/hull-vm-script"
# per-binary --skip lists from known-failures
declare -A skips=()
if [ "${HULL_VM_NO_SKIP:-0}" != 1 ] && [ -f "$here/known-failures" ]; then
    while read -r kb kt _; do
        case $kb in '' | '#'*) continue ;; esac
        [[ " ${sel[*]:-} " == *" $kb "* ]] || continue
        skips[$kb]="${skips[$kb]:-} --skip $kt"
        log "skipping known failure $kb::$kt (see conformance/vm/known-failures)"
    done <"$here/known-failures"
fi
{
    printf 'HULL_VM_MODE=%q\n' "$([ $shell = 1 ] && echo shell || { [ -n "$script" ] && echo script; } || echo tests)"
    printf 'HULL_VM_TESTS=%q\n' "${sel[*]:-}"
    printf 'HULL_VM_ARGS=%q\n' "${targs[*]:-}"
    printf 'HULL_VM_THREADS=%q\n' "${HULL_VM_THREADS:-2}"
    printf 'HULL_VM_MODULES=%q\n' "${modlist[*]:-}"
    printf 'HULL_VM_ROOT_CONTROLLERS=%q\n' "${HULL_VM_ROOT_CONTROLLERS-all}"
    for kb in "${!skips[@]}"; do
        printf 'HULL_VM_SKIP_%s=%q\n' "${kb//[^A-Za-z0-9]/_}" "${skips[$kb]}"
    done
} >"$stage/etc/hull-vm.conf"

initrd=$tdir/initrd.cpio
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
    /bin/busybox cpio -o -H newc -R 0:0 >"$initrd.tmp" 2>/dev/null)
mv "$initrd.tmp" "$initrd"
log "initramfs $(du -h "$initrd" | cut -f1), kernel $kpkg, tests: ${sel[*]}"

# ---------------------------------------------------------------------------
# Boot
# ---------------------------------------------------------------------------
accel=${HULL_VM_ACCEL:-auto}
case $accel in
auto | kvm | tcg) ;;
*) die "HULL_VM_ACCEL must be kvm, tcg or auto" ;;
esac
if [ "$accel" = auto ] && ! { [ -c /dev/kvm ] && (exec 3<>/dev/kvm) 2>/dev/null; }; then
    accel=tcg
fi
console=$tdir/console.log
# /tmp in the VM (where the tests put their bundles) is an ext4 disk, not a tmpfs: the host's
# /tmp is a disk filesystem too, and a 6.1 kernel's tmpfs has no idmapped mounts (6.3+).
# Made afresh (sparse) for every boot; /init mounts it when the disk shows up.
disk=$tdir/scratch.img
new_disk() {
    rm -f "$disk"
    truncate -s "${HULL_VM_DISK_SIZE:-4G}" "$disk"
    mkfs.ext4 -q -F -E root_owner=0:0 "$disk" || die "mkfs.ext4 $disk (package e2fsprogs)"
}

# boot ACCEL: start qemu in the background (pid in $qpid), serial console to $console
boot() {
    local cpu=max
    [ "$1" = kvm ] && cpu=host
    timeout=${HULL_VM_TIMEOUT:-$([ "$1" = kvm ] && echo 300 || echo 900)}
    : >"$console"
    new_disk
    log "booting ($1, timeout ${timeout}s), console log: $console"
    start=$(date +%s)
    # In a subshell that forwards SIGTERM: bash then reports no "Aborted" job when qemu dies
    # of a signal (a KVM probe that trips an assertion), and killing $qpid still stops qemu.
    (
        trap 'kill $p 2>/dev/null' TERM
        timeout -k 10 "$timeout" qemu-system-x86_64 \
            -accel "$1" -cpu "$cpu" -m "${HULL_VM_MEM:-1G}" -smp "${HULL_VM_SMP:-2}" \
            -nodefaults -no-user-config -display none -monitor none -no-reboot \
            -serial "file:$console" \
            -kernel "$kdir/vmlinuz" -initrd "$initrd" \
            -drive "file=$disk,if=virtio,format=raw,cache=unsafe" \
            -append "console=ttyS0 panic=-1 oops=panic loglevel=4 rdinit=/init ${HULL_VM_CMDLINE:-}" \
            </dev/null >"$tdir/qemu.out" 2>&1 &
        p=$!
        while :; do
            wait $p
            rc=$?
            kill -0 $p 2>/dev/null || exit $rc
        done
    ) 2>/dev/null &
    qpid=$!
}

qpid=
trap '[ -z "$qpid" ] || kill $qpid 2>/dev/null || true' EXIT
if [ $shell = 1 ]; then
    [ "$accel" = auto ] && accel=tcg
    [ "$accel" = kvm ] && cpu=host || cpu=max
    log "interactive shell ($accel); exit the shell to power off"
    new_disk
    exec qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m "${HULL_VM_MEM:-1G}" \
        -smp "${HULL_VM_SMP:-2}" -nodefaults -no-user-config -display none -no-reboot \
        -serial mon:stdio -kernel "$kdir/vmlinuz" -initrd "$initrd" \
        -drive "file=$disk,if=virtio,format=raw,cache=unsafe" \
        -append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init ${HULL_VM_CMDLINE:-}"
fi
if [ "$accel" = auto ]; then
    # /dev/kvm can open and still be unusable (nested virtualization that aborts on an MSR
    # or hangs in early boot): give KVM a few seconds to reach our /init, else use TCG.
    boot kvm
    ok=0
    for _ in $(seq 1 "${HULL_VM_KVM_PROBE:-20}"); do
        if grep -q '^HULL-VM-BOOT' "$console" 2>/dev/null; then
            ok=1
            break
        fi
        kill -0 $qpid 2>/dev/null || break
        sleep 1
    done
    if [ $ok = 1 ]; then
        accel=kvm
    else
        log "KVM is not usable here ($(tail -n1 "$tdir/qemu.out" 2>/dev/null || true)); using TCG"
        kill $qpid 2>/dev/null || true
        wait $qpid 2>/dev/null || true
        accel=tcg
        boot tcg
    fi
else
    boot "$accel"
fi
if [ "${HULL_VM_VERBOSE:-0}" = 1 ]; then
    tail -n +1 -F --pid=$qpid "$console" 2>/dev/null | tr -d '\r' &
else
    tail -n +1 -F --pid=$qpid "$console" 2>/dev/null | tr -d '\r' |
        grep --line-buffered -E '^(HULL-VM-|test result:|test .* FAILED|Kernel panic)' &
fi
tailpid=$!
qrc=0
wait $qpid || qrc=$?
wait $tailpid 2>/dev/null || true
elapsed=$(($(date +%s) - start))

# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------
clean=$(tr -d '\r' <"$console")
done_line=$(grep -E '^HULL-VM-DONE [0-9]+$' <<<"$clean" | tail -n1 || true)
rc=0
if [ -z "$done_line" ]; then
    if [ $qrc = 124 ] || [ $qrc = 137 ]; then
        log "FAILED: no HULL-VM-DONE line: qemu killed after ${timeout}s"
    else
        log "FAILED: no HULL-VM-DONE line (qemu exit $qrc)"
    fi
    [ -s "$tdir/qemu.out" ] && { log "qemu output:"; cat "$tdir/qemu.out" >&2; }
    log "console log tail ($console):"
    tail -n 80 <<<"$clean" >&2
    rc=1
else
    # print the full output of every failed test binary (its failure details)
    while read -r _ t code; do
        [ "$code" = 0 ] && continue
        rc=1
        log "test binary '$t' failed inside the VM (exit $code); its output:"
        awk -v t="$t" '$0=="HULL-VM-BEGIN " t {p=1} p {print} /^HULL-VM-RESULT / && $2==t {p=0}' \
            <<<"$clean" >&2
    done < <(grep -E '^HULL-VM-RESULT ' <<<"$clean")
    [ "$done_line" = "HULL-VM-DONE 0" ] || rc=1
fi
if [ $rc = 0 ]; then
    log "PASSED on pure cgroup v2 ($accel, ${elapsed}s): ${script:+script $script }${sel[*]:-}"
else
    log "FAILED on pure cgroup v2 ($accel, ${elapsed}s); full console log: $console"
fi
exit $rc
