#!/bin/busybox sh
# /init of the hull pure-cgroup-v2 test VM (see conformance/vm/README.md).
#
# Stage 1 runs on the initramfs (rootfs). pivot_root(2) refuses to move rootfs away, and hull
# (like runc without --no-pivot) pivot_roots into every container, so stage 1 copies the
# image into a tmpfs and switch_roots into it. Stage 2 sets up a systemd-like pure cgroup v2
# host, runs the selected conformance test binaries and reports on the serial console:
#   HULL-VM-BEGIN <test>
#   HULL-VM-RESULT <test> <exit code>      (one per test binary; 0 = all its tests passed)
#   HULL-VM-DONE <0|1>                     (last line; 1 if any binary failed or was missing)
# then powers the VM off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

if [ ! -e /.hull-vm-stage2 ]; then
    echo "HULL-VM-BOOT"  # run-v2.sh's KVM probe waits for this line
    /bin/busybox mkdir -p /proc /newroot
    /bin/busybox mount -t proc proc /proc
    /bin/busybox mount -t tmpfs -o mode=755 tmpfs /newroot
    for f in /* /.[!.]*; do
        case "$f" in
        /newroot | /proc | /sys | /dev | '/.[!.]*') ;;
        *) /bin/busybox cp -a "$f" /newroot/ ;;
        esac
    done
    /bin/busybox mkdir -p /newroot/proc /newroot/sys /newroot/dev
    : >/newroot/.hull-vm-stage2
    /bin/busybox umount /proc
    exec /bin/busybox switch_root /newroot /init
fi

# ---- stage 2 ----
fail() {
    echo "HULL-VM-ERROR $*"
    echo "HULL-VM-DONE 1"
    poweroff -f
    sleep 60
}

mount -t proc proc /proc || fail "mount proc"
mount -t sysfs sysfs /sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs"
mkdir -p /dev/pts /dev/shm /dev/mqueue /run /tmp /sys/fs/cgroup
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -sf pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=755 tmpfs /run || fail "mount /run"
mount -t tmpfs -o mode=1777 tmpfs /tmp || fail "mount /tmp"
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup ||
    fail "mount cgroup2"
# as systemd does: AppArmor's policy interface (and runtimes' "is it enabled" test) live here
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
# systemd hosts make every mount shared; do the same so hull sees realistic propagation.
mount --make-rshared /
hostname hull-vm
ip link set lo up 2>/dev/null

# All controllers for the children of the root. The root cgroup is exempt from the
# no-internal-process rule, but every other cgroup is not: move ourselves (and so the tests)
# into a leaf, like a systemd service, so hull can create siblings with controllers enabled.
cg=/sys/fs/cgroup
mkdir -p $cg/init
echo $$ >$cg/init/cgroup.procs || fail "move init into /init cgroup"
. /etc/hull-vm.conf
# HULL_VM_ROOT_CONTROLLERS: "all" (like systemd) or a list, possibly empty, to leave the
# enabling to hull
ctrls=$HULL_VM_ROOT_CONTROLLERS
[ "$ctrls" = all ] && ctrls=$(cat $cg/cgroup.controllers)
for c in $ctrls; do
    echo "+$c" >$cg/cgroup.subtree_control || echo "HULL-VM-WARN cannot enable $c"
done
for m in $HULL_VM_MODULES; do
    insmod "$m" || echo "HULL-VM-WARN insmod $m failed"
done
# run-v2.sh's ext4 scratch disk replaces the tmpfs /tmp (idmapped mounts, like a host's disk);
# virtio_blk probes asynchronously, so give /dev/vda a moment to appear.
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
if [ -b /dev/vda ]; then
    mount -t ext4 /dev/vda /tmp && chmod 1777 /tmp || fail "mount the scratch disk on /tmp"
else
    echo "HULL-VM-WARN no scratch disk /dev/vda: /tmp stays a tmpfs"
fi
echo "HULL-VM-INFO kernel $(uname -r) cgroup2 controllers: $(cat $cg/cgroup.subtree_control)"
echo "HULL-VM-INFO tests: $HULL_VM_TESTS args: $HULL_VM_ARGS"

# HULL_TEST_SLOW: timing budgets of the tests stretch under emulation (TCG)
export HULL_BIN=/usr/local/bin/hull RUST_BACKTRACE=1 HOME=/root HULL_TEST_SLOW=4
cd /tmp || fail "cd /tmp"
overall=0
case $HULL_VM_MODE in
shell)
    echo "HULL-VM-INFO shell: test binaries in /tests, HULL_BIN=$HULL_BIN; exit to power off"
    setsid cttyhack busybox sh -l
    poweroff -f
    ;;
script)
    echo "HULL-VM-BEGIN script"
    busybox sh /hull-vm-script </dev/null
    rc=$?
    echo "HULL-VM-RESULT script $rc"
    [ "$rc" = 0 ] || overall=1
    ;;
esac
for t in $HULL_VM_TESTS; do
    echo "HULL-VM-BEGIN $t"
    if [ -x "/tests/$t" ]; then
        case $(head -c 2 "/tests/$t") in
        '#!') busybox sh "/tests/$t" </dev/null ;; # a shell test (busybox sh): no libtest arguments
        *)
            eval "skip=\${HULL_VM_SKIP_$(echo "$t" | tr -c 'A-Za-z0-9\n' _):-}"
            # shellcheck disable=SC2086,SC2154 # word lists on purpose
            "/tests/$t" --test-threads="$HULL_VM_THREADS" $skip $HULL_VM_ARGS </dev/null
            ;;
        esac
        rc=$?
    else
        echo "no test binary /tests/$t"
        rc=127
    fi
    echo "HULL-VM-RESULT $t $rc"
    [ "$rc" = 0 ] || overall=1
done
echo "HULL-VM-DONE $overall"
sync
poweroff -f
sleep 60
