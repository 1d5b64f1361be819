#!/bin/bash
# Tests `hull --systemd-cgroup` for real: boots a qemu guest whose PID 1 is systemd (from an
# initramfs built out of the host's Debian systemd, dbus-daemon, busybox-static and hull) and
# runs payload.sh as a systemd service; the guest prints a HULL-SYSTEMD-RESULT line on its
# serial console. Exit 0 when every mode prints PASS, 1 on FAIL, 2 when the test cannot run.
#
#   conformance/vm/systemd/run.sh [v2|hybrid|all]     (default: v2)
#
# HULL_VM_SECTIONS="7" (payload section numbers as in its headers: 1 1b 2 2b 2c 3 3b 4 5 6 7
# 7r) runs only those sections; the default is all of them.
#
# Needs: qemu-system-x86_64 (apt-get installs qemu-system-x86 when missing), systemd and
# busybox-static installed on the host (their binaries are copied), jq, python3. KVM is used
# when /dev/kvm works, else TCG (about 30 s per mode). The Debian kernel is fetched once with
# `apt-get download` and unpacked (dpkg-deb -x) into $HULL_SYSTEMD_VM_CACHE (default
# /var/cache/hull-vm-systemd); nothing is installed into /boot.
# Env: HULL_BIN (default: cargo build, then $CARGO_TARGET_DIR or target/debug/hull),
#      HULL_VM_TIMEOUT (s per boot, default 600), HULL_VM_ACCEL=kvm|tcg|auto (auto: KVM if the
#      kernel banner shows up within 15 s), HULL_VM_KEEP=1 keeps the work dir,
#      HULL_VM_DBUS=0 leaves dbus-daemon out of the guest, HULL_VM_CMDLINE adds kernel args,
#      HULL_VM_SMP sets the guest CPUs (default 2), HULL_VM_RUNC=0 leaves runc out (section 7r;
#      a smaller initramfs unpacks faster under a slow TCG).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
MODES=${1:-v2}
[ "$MODES" = all ] && MODES="v2 hybrid"
CACHE=${HULL_SYSTEMD_VM_CACHE:-/var/cache/hull-vm-systemd}
TIMEOUT=${HULL_VM_TIMEOUT:-600}

log() { echo "[systemd-vm] $*" >&2; }
die() { log "error: $*"; exit 2; }

QEMU=$(command -v qemu-system-x86_64 || true)
if [ -z "$QEMU" ]; then
    log "installing qemu-system-x86 (Debian package)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86; } >/dev/null || die "cannot install qemu-system-x86"
    QEMU=$(command -v qemu-system-x86_64)
fi
[ -x /usr/lib/systemd/systemd ] || die "systemd is not installed on the host (its binaries are copied into the guest)"
[ -x /bin/busybox ] || die "busybox-static is not installed"
command -v jq >/dev/null || die "jq is not installed"

# --- kernel -------------------------------------------------------------------------------
mkdir -p "$CACHE" 2>/dev/null || CACHE=$REPO/target/vm-systemd-cache
mkdir -p "$CACHE"
KERNEL=$(ls "$CACHE"/k/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
if [ -z "$KERNEL" ]; then
    PKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
    if [ -z "$PKG" ]; then
        apt-get update -qq >/dev/null
        PKG=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
    fi
    [ -n "$PKG" ] || die "cannot find the Debian kernel package behind linux-image-amd64"
    log "fetching $PKG into $CACHE"
    (cd "$CACHE" && apt-get download "$PKG" >/dev/null 2>&1) || die "apt-get download $PKG failed"
    dpkg-deb -x "$CACHE"/"$PKG"_*.deb "$CACHE/k"
    rm -f "$CACHE"/"$PKG"_*.deb
    KERNEL=$(ls "$CACHE"/k/boot/vmlinuz-* | head -n1)
fi

# --- hull ---------------------------------------------------------------------------------
if [ -z "${HULL_BIN:-}" ]; then
    (cd "$REPO" && cargo build -q)
    HULL_BIN=${CARGO_TARGET_DIR:-$REPO/target}/debug/hull
fi
[ -x "$HULL_BIN" ] || die "no hull binary at $HULL_BIN"

WORK=$(mktemp -d /tmp/hull-systemd-vm.XXXXXX)
cleanup() { if [ "${HULL_VM_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
S=$WORK/root
mkdir -p "$S"/{usr/bin,usr/sbin,usr/lib/x86_64-linux-gnu,usr/lib64,etc/systemd/system,proc,sys,dev,run,tmp,var/tmp,root}
ln -s usr/bin "$S/bin"; ln -s usr/sbin "$S/sbin"; ln -s usr/lib "$S/lib"; ln -s usr/lib64 "$S/lib64"
chmod 1777 "$S/tmp" "$S/var/tmp"

# Host path → path in the merged-/usr guest.
guest_path() {
    case "$1" in
        /lib/*|/lib64/*|/bin/*|/sbin/*) echo "/usr$1" ;;
        *) echo "$1" ;;
    esac
}
# copy FILE [DEST]: the file (dereferenced) and every library ldd lists for it.
copy() {
    local src=$1 dst=${2:-$(guest_path "$1")}
    mkdir -p "$S$(dirname "$dst")"
    # Replace, not write through: dst may be a busybox applet link (setpriv is one).
    rm -f "$S$dst"
    cp -L "$src" "$S$dst"
    { ldd "$src" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
        local g
        g=$(guest_path "$lib")
        [ -e "$S$g" ] && continue
        mkdir -p "$S$(dirname "$g")"
        cp -L "$lib" "$S$g"
    done
}

copy /usr/lib/systemd/systemd
# pivot_root cannot leave the initramfs (rootfs): /init copies it into a tmpfs and
# switch_roots there before systemd starts.
cat >"$S/init" <<'EOF'
#!/bin/sh
mkdir -p /newroot
mount -t tmpfs -o mode=0755 tmpfs /newroot
for f in /*; do
    case $f in /newroot|/init|/proc|/sys|/dev) ;; *) cp -a "$f" /newroot/ ;; esac
done
mkdir -p /newroot/proc /newroot/sys /newroot/dev
exec switch_root /newroot /usr/lib/systemd/systemd "$@"
EOF
chmod 755 "$S/init"
copy /usr/bin/systemctl
if [ -n "${HULL_VM_STRACE:-}" ]; then copy /usr/bin/strace; fi
[ -x /usr/lib/systemd/systemd-shutdown ] && copy /usr/lib/systemd/systemd-shutdown
copy /bin/busybox /usr/bin/busybox
for a in $(/bin/busybox --list); do
    [ -e "$S/usr/bin/$a" ] || ln -s busybox "$S/usr/bin/$a"
done
strip -o "$S/usr/bin/hull" "$HULL_BIN" 2>/dev/null || cp "$HULL_BIN" "$S/usr/bin/hull"
copy "$HULL_BIN" /usr/bin/hull.libs-only && rm "$S/usr/bin/hull.libs-only"
# Slices systemd knows anyway; copying the files keeps their usual settings.
mkdir -p "$S/usr/lib/systemd/system"
for u in -.slice system.slice machine.slice; do
    [ -e "/usr/lib/systemd/system/$u" ] && cp "/usr/lib/systemd/system/$u" "$S/usr/lib/systemd/system/"
done

# The user's systemd instance (payload section 7): user@.service and user-runtime-dir@.service
# from the host, without PAM (the guest has none), and a user bus (dbus-user-session's units).
# setpriv runs commands as the user; runc (Debian's, when installed) runs as the peer.
for u in user@.service user-runtime-dir@.service user.slice; do
    cp "/usr/lib/systemd/system/$u" "$S/usr/lib/systemd/system/"
done
copy /usr/lib/systemd/systemd-user-runtime-dir
# The guest has no sysinit.target & co.: no default dependencies.
for u in user@.service user-runtime-dir@.service; do
    mkdir -p "$S/etc/systemd/system/$u.d"
    printf '[Unit]\nDefaultDependencies=no\n' >"$S/etc/systemd/system/$u.d/hull-test.conf"
done
# Without PAM, pam_systemd does not set XDG_RUNTIME_DIR, and `systemd --user` exits at once
# without it ("Trying to run as user instance, but $XDG_RUNTIME_DIR is not set").
printf '[Service]\nPAMName=\nEnvironment=XDG_RUNTIME_DIR=/run/user/%%i DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/%%i/bus\n' \
    >>"$S/etc/systemd/system/user@.service.d/hull-test.conf"
mkdir -p "$S/usr/lib/systemd/user/sockets.target.wants"
for u in default.target basic.target sockets.target timers.target paths.target shutdown.target \
    exit.target app.slice background.slice session.slice dbus.socket dbus.service systemd-exit.service; do
    [ -e "/usr/lib/systemd/user/$u" ] && cp "/usr/lib/systemd/user/$u" "$S/usr/lib/systemd/user/"
done
ln -sf ../dbus.socket "$S/usr/lib/systemd/user/sockets.target.wants/dbus.socket"
# util-linux's setpriv under its own name: busybox has a smaller setpriv applet.
copy /usr/bin/setpriv /usr/bin/ul-setpriv
copy /usr/bin/busctl
for f in /usr/sbin/runc /usr/bin/runc; do
    if [ "${HULL_VM_RUNC:-1}" = 1 ] && [ -x "$f" ]; then copy "$f" /usr/bin/runc; break; fi
done

# A system bus, to test the fallback from the private socket to the bus. The units must be
# called dbus.socket/dbus.service: systemd connects to the bus when dbus.service is active.
if [ "${HULL_VM_DBUS:-1}" = 1 ] && [ -x /usr/bin/dbus-daemon ] && [ -f /usr/share/dbus-1/system.conf ]; then
    copy /usr/bin/dbus-daemon
    mkdir -p "$S/usr/share/dbus-1"
    cp /usr/share/dbus-1/system.conf /usr/share/dbus-1/session.conf "$S/usr/share/dbus-1/"
    cp -r /usr/share/dbus-1/system.d "$S/usr/share/dbus-1/"
    cat >"$S/etc/systemd/system/dbus.socket" <<'EOF2'
[Unit]
Description=D-Bus system bus socket
DefaultDependencies=no
[Socket]
ListenStream=/run/dbus/system_bus_socket
EOF2
    cat >"$S/etc/systemd/system/dbus.service" <<'EOF2'
[Unit]
Description=D-Bus system bus
DefaultDependencies=no
Requires=dbus.socket
[Service]
ExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --nosyslog
EOF2
    DBUS_WANTS="dbus.socket dbus.service"
    echo "messagebus:x:100:" >>"$WORK/group.extra"
    echo "messagebus:x:100:100::/nonexistent:/bin/false" >>"$WORK/passwd.extra"
else
    DBUS_WANTS=""
fi

# --- /etc ---------------------------------------------------------------------------------
cat >"$S/etc/os-release" <<'EOF'
NAME="hull test VM"
ID=hulltest
PRETTY_NAME="hull systemd-cgroup test VM"
EOF
echo 0123456789abcdef0123456789abcdef >"$S/etc/machine-id"
echo hulltest >"$S/etc/hostname"
# An unprivileged user for the rootless check (payload section 6).
echo "hullrl:x:1500:" >>"$WORK/group.extra"
echo "hullrl:x:1500:1500::/hull-test/rl:/bin/sh" >>"$WORK/passwd.extra"
{ echo "root:x:0:0:root:/root:/bin/sh"; echo "nobody:x:65534:65534:nobody:/nonexistent:/bin/false"; cat "$WORK/passwd.extra" 2>/dev/null || true; } >"$S/etc/passwd"
{ echo "root:x:0:"; echo "nogroup:x:65534:"; cat "$WORK/group.extra" 2>/dev/null || true; } >"$S/etc/group"
touch "$S/etc/fstab"
cat >"$S/etc/systemd/system/hull-test.service" <<EOF
[Unit]
Description=hull --systemd-cgroup test payload
DefaultDependencies=no
Wants=$DBUS_WANTS
After=$DBUS_WANTS
[Service]
Type=oneshot
ExecStart=/bin/sh /hull-test/payload.sh
StandardInput=null
StandardOutput=null
StandardError=null
EOF

# Rootless hull (payload section 6): a service of user hullrl whose cgroup systemd delegates
# (chowns) to it, as user@.service does for a login session.
cat >"$S/etc/systemd/system/hull-rl.service" <<EOF
[Unit]
Description=rootless hull in a delegated cgroup
DefaultDependencies=no
[Service]
Type=oneshot
User=1500
Group=1500
Delegate=yes
Environment=XDG_RUNTIME_DIR=/hull-test/rl/xdg PATH=/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=/bin/sh /hull-test/rl-go.sh
StandardInput=null
StandardOutput=null
StandardError=null
EOF

# --- test bundles -------------------------------------------------------------------------
T=$S/hull-test
mkdir -p "$T/rootfs/bin" "$T/rootfs/proc" "$T/rootfs/dev" "$T/rootfs/sys" "$T/rootfs/tmp"
echo "${HULL_VM_SECTIONS:-}" >"$T/sections"
cp /bin/busybox "$T/rootfs/bin/busybox"
for a in sh sleep cat echo true ls; do ln -s busybox "$T/rootfs/bin/$a"; done
cp "$HERE/payload.sh" "$T/payload.sh"
mkbundle() { # mkbundle NAME JQ-FILTER
    mkdir -p "$T/$1"
    "$HULL_BIN" spec --bundle "$T/$1"
    jq "$2" "$T/$1/config.json" >"$T/$1/c" && mv "$T/$1/c" "$T/$1/config.json"
}
BASE='.root.path = "/hull-test/rootfs" | .process.terminal = false | .hostname = "ctr"
  | .linux.resources.memory = {limit: 67108864, swap: 134217728}
  | .linux.resources.cpu = {shares: 512, quota: 50000, period: 100000}
  | .linux.resources.pids = {limit: 32}'
mkbundle b1 "$BASE | .process.args = [\"sleep\", \"3600\"]
  | .annotations = {\"org.systemd.property.TimeoutStopSec\": \"uint64 7\",
                    \"org.systemd.property.CollectMode\": \"'inactive-or-failed'\"}"
mkbundle b2 "$BASE | .process.args = [\"cat\", \"/proc/self/cgroup\"]
  | .linux.cgroupsPath = \"hulltest-sub.slice:hx:t2\"
  | .linux.namespaces |= map(select(.type != \"cgroup\"))"
mkbundle b6 "$BASE | .process.args = [\"sleep\", \"10\"] | .linux.cgroupsPath = \"system.slice:hull:t1\""
mkbundle b7 "$BASE | .process.args = [\"sleep\", \"100\"] | .linux.resources.pids = null
  | .linux.resources.unified = {\"memory.high\": \"50331648\", \"pids.max\": \"20\"}"
mkbundle b10 "$BASE | .process.args = [\"sleep\", \"100\"] | .linux.cgroupsPath = \":p:hullpod-t10.slice\""
mkbundle b5 "$BASE | .process.args = [\"true\"]"
mkbundle b11 "$BASE | .process.args = [\"sleep\", \"3600\"] | .linux.cgroupsPath = \"system.slice:hull:shared\""
mkbundle b4 "$BASE | .linux.cgroupsPath = \"/not/a/systemd/path\""

# The rootless bundle: what `hull spec --rootless` writes, for uid/gid 1500, with a pids limit;
# its rootfs is copied and chowned to the user in the guest.
mkdir -p "$T/rl"
"$HULL_BIN" spec --rootless --bundle "$T/rl"
jq '.process.terminal = false | .process.args = ["sleep", "100"]
  | .linux.uidMappings[0].hostID = 1500 | .linux.gidMappings[0].hostID = 1500
  | .linux.resources = {pids: {limit: 20}}' "$T/rl/config.json" >"$T/rl/c" && mv "$T/rl/c" "$T/rl/config.json"
# Section 7: bundles of user hullrl for the user's systemd instance (rootfs copied and
# chowned in the guest): memory and pids limits; one in app.slice; one asking for cpuset,
# which user@.service does not delegate (Delegate=pids memory cpu).
mkdir -p "$T/ru"
RU='.process.terminal = false | .root.path = "/hull-test/ru/rootfs"
  | .linux.uidMappings[0].hostID = 1500 | .linux.gidMappings[0].hostID = 1500
  | .linux.resources = {memory: {limit: 67108864}, pids: {limit: 20}}'
mkrubundle() { # mkrubundle NAME JQ-FILTER
    mkdir -p "$T/ru/$1"
    "$HULL_BIN" spec --rootless --bundle "$T/ru/$1"
    jq "$RU | $2" "$T/ru/$1/config.json" >"$T/ru/$1/c" && mv "$T/ru/$1/c" "$T/ru/$1/config.json"
}
mkrubundle long '.process.args = ["sleep", "300"]'
mkrubundle slice '.process.args = ["cat", "/proc/self/cgroup"] | .linux.cgroupsPath = "app.slice:hx:ru2"
  | .linux.namespaces |= map(select(.type != "cgroup"))'
mkrubundle cpuset '.process.args = ["true"] | .linux.resources.cpu = {cpus: "0"}'

cat >"$T/rl-go.sh" <<'EOF'
#!/bin/sh
# As user hullrl in hull-rl.service: move into a sub-cgroup of the delegated service cgroup
# (a cgroup with processes cannot delegate controllers), then run hull; results in files.
R=/hull-test/rl
exec >$R/log 2>&1
S=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir "$S/sh" && echo $$ >"$S/sh/cgroup.procs" || { echo "no delegation of $S" >$R/result; exit 0; }
cd $R || exit 0
hull create rl1 || { echo "create failed" >$R/result; exit 0; }
P=$(hull state rl1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
cat /proc/$P/cgroup >$R/cgroup
cat "$S/rl1/pids.max" >$R/pids.max
cat /proc/$P/uid_map >$R/uid_map
ls -d "$XDG_RUNTIME_DIR/hull/rl1" >$R/statedir
hull delete --force rl1 || { echo "delete failed" >$R/result; exit 0; }
test -e "$S/rl1" && { echo "cgroup $S/rl1 left" >$R/result; exit 0; }
echo ok >$R/result
EOF

python3 "$HERE/mkcpio.py" "$S" "$WORK/initrd.cpio"
log "initramfs: $(du -h "$WORK/initrd.cpio" | cut -f1), kernel: $(basename "$KERNEL")"

# boot ACCEL CMDLINE-EXTRA: qemu in the background (pid in $QPID), console to $OUT.
boot() {
    local cpu=max
    [ "$1" = kvm ] && cpu=host
    : >"$OUT"
    # The subshell reports qemu's end (even an abort) as a plain exit status; timeout's pid is
    # kept to stop a probe boot.
    (
        timeout -k 5 "$TIMEOUT" "$QEMU" -accel "$1" -cpu "$cpu" -m 1024 -smp "${HULL_VM_SMP:-2}" \
            -nodefaults -no-user-config -display none -no-reboot -monitor none \
            -serial "file:$OUT" -kernel "$KERNEL" -initrd "$WORK/initrd.cpio" \
            -append "console=ttyS0 panic=-1 rdinit=/init systemd.unit=hull-test.service $2 systemd.log_target=console systemd.show_status=0 loglevel=4 ${HULL_VM_CMDLINE:-}" \
            </dev/null >"$WORK/qemu.out" 2>&1 &
        echo $! >"$WORK/timeout.pid"
        wait $!
    ) 2>/dev/null &
    QPID=$!
}

ACCEL=${HULL_VM_ACCEL:-auto}
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { [ "$ACCEL" = auto ] && ACCEL=tcg; }
RC=0
for MODE in $MODES; do
    case $MODE in
        v2) CG="systemd.unified_cgroup_hierarchy=1" ;;
        hybrid) CG="systemd.unified_cgroup_hierarchy=0" ;;
        *) die "unknown mode $MODE (v2, hybrid, all)" ;;
    esac
    OUT=$WORK/console-$MODE.log
    T0=$(date +%s)
    if [ "$ACCEL" = auto ]; then
        # /dev/kvm may open and still be unusable (nested virtualization that aborts on an MSR
        # or hangs in early boot): give KVM a few seconds to print the kernel banner, else TCG.
        boot kvm "$CG"
        for _ in $(seq 1 "${HULL_VM_KVM_PROBE:-15}"); do
            grep -q 'Linux version' "$OUT" 2>/dev/null && break
            kill -0 $QPID 2>/dev/null || break
            sleep 1
        done
        if grep -q 'Linux version' "$OUT" 2>/dev/null; then
            ACCEL=kvm
        else
            log "KVM is not usable here ($(tail -n1 "$WORK/qemu.out" 2>/dev/null || true)); using TCG"
            kill "$(cat "$WORK/timeout.pid")" 2>/dev/null || true
            wait $QPID 2>/dev/null || true
            ACCEL=tcg
            T0=$(date +%s)
            boot tcg "$CG"
        fi
    else
        boot "$ACCEL" "$CG"
    fi
    log "booted $MODE with $ACCEL (timeout ${TIMEOUT}s)"
    QRC=0
    wait $QPID || QRC=$?
    T1=$(date +%s)
    tr -d '\r' <"$OUT" | grep -aE '^(ok  |FAIL|skip|hull systemd|payload took)' || true
    if grep -aq '^HULL-SYSTEMD-RESULT: PASS' "$OUT"; then
        log "$MODE: $(grep -a '^HULL-SYSTEMD-RESULT' "$OUT" | tr -d '\r') in $((T1 - T0)) s ($ACCEL)"
    else
        RC=1
        if grep -aq '^HULL-SYSTEMD-RESULT' "$OUT"; then
            log "$MODE: $(grep -a '^HULL-SYSTEMD-RESULT' "$OUT" | tr -d '\r')"
        else
            log "$MODE: no result marker (qemu exit $QRC after $((T1 - T0)) s); last console lines:"
            tr -d '\r' <"$OUT" | tail -n 40 >&2
        fi
        cp "$OUT" "/tmp/hull-systemd-vm-$MODE.log" && log "console log: /tmp/hull-systemd-vm-$MODE.log"
    fi
done
exit $RC
