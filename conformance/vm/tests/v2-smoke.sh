#!/bin/sh
# Manual checks of hull's cgroup v2 code path, run inside the VM:
#   conformance/vm/run-v2.sh v2-smoke
# (no harness in there: plain busybox sh). Prints "ok"/"FAIL" per check; exits 1 on a failure.
H=$HULL_BIN
R=/run/hull-smoke
CG=/sys/fs/cgroup
fails=0
ok() { echo "ok   $*"; }
bad() {
    echo "FAIL $*"
    fails=$((fails + 1))
}
check() { # check DESC WANT GOT
    if [ "$2" = "$3" ]; then ok "$1 = $3"; else bad "$1: want [$2] got [$3]"; fi
}

mkbundle() { # mkbundle DIR ARGS-JSON RESOURCES-JSON CGROUPS-PATH [,EXTRA-MOUNTS-JSON]
    mkdir -p "$1/rootfs/bin" "$1/rootfs/proc" "$1/rootfs/dev" "$1/rootfs/sys" "$1/rootfs/tmp"
    cp /bin/busybox "$1/rootfs/bin/busybox"
    for a in sh sleep cat echo ls mount grep head dd true id; do ln -sf busybox "$1/rootfs/bin/$a"; done
    cat >"$1/config.json" <<EOF
{"ociVersion":"1.0.2","root":{"path":"rootfs"},
 "process":{"args":$2,"cwd":"/","env":["PATH=/bin"],"user":{"uid":0,"gid":0},
   "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}},
 "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
   {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]},
   {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
   {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}${5:-}],
 "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"cgroup"}],
   "cgroupsPath":"$4","resources":$3}}
EOF
}

RES='{"memory":{"limit":67108864,"reservation":33554432,"swap":134217728},
 "cpu":{"shares":512,"quota":50000,"period":100000,"cpus":"0","mems":"0"},
 "pids":{"limit":20},
 "hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
 "unified":{"memory.high":"60000000"},
 "devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}'

echo "== [$(cut -d" " -f1 /proc/uptime)s] create/start with resources"
B=/tmp/smoke1
mkbundle $B '["sh","-c","cat /proc/self/cgroup > /tmp/cg; cat /sys/fs/cgroup/memory.max > /tmp/mm; sleep 1000"]' "$RES" /hull-smoke/c1
$H --root $R create --bundle $B c1 || bad "create c1"
D=$CG/hull-smoke/c1
check "memory.max" 67108864 "$(cat $D/memory.max)"
check "memory.low" 33554432 "$(cat $D/memory.low)"
check "memory.swap.max (swap - limit)" 67108864 "$(cat $D/memory.swap.max)"
check "memory.high (unified)" 59998208 "$(cat $D/memory.high)"
check "cpu.weight (shares 512)" 20 "$(cat $D/cpu.weight)"
check "cpu.max" "50000 100000" "$(cat $D/cpu.max)"
check "cpuset.cpus" 0 "$(cat $D/cpuset.cpus)"
check "pids.max" 20 "$(cat $D/pids.max)"
check "hugetlb.2MB.max" 4194304 "$(cat $D/hugetlb.2MB.max)"
[ -e $D/hugetlb.2MB.rsvd.max ] && check "hugetlb.2MB.rsvd.max" 4194304 "$(cat $D/hugetlb.2MB.rsvd.max)"
pid=$($H --root $R state c1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
check "init cgroup (host view)" "0::/hull-smoke/c1" "$(cat /proc/$pid/cgroup)"
$H --root $R start c1 || bad "start c1"
# the program writes both files first thing; under TCG on a busy host that can take seconds
for _ in $(seq 1 100); do
    [ -s $B/rootfs/tmp/mm ] && break
    sleep 0.3
done
check "init cgroup (in cgroupns)" "0::/" "$(cat $B/rootfs/tmp/cg 2>&1)"
check "memory.max seen through the container's cgroup mount" 67108864 "$(cat $B/rootfs/tmp/mm 2>&1)"
check "exec lands in the container cgroup" "0::/" "$($H --root $R exec c1 cat /proc/self/cgroup)"
check "/dev/null usable" "" "$($H --root $R exec c1 sh -c 'echo x > /dev/null' 2>&1)"

echo "== [$(cut -d" " -f1 /proc/uptime)s] pids.max enforced"
out=$($H --root $R exec c1 sh -c 'for i in $(seq 1 40); do sleep 100 >/dev/null 2>&1 & done 2>&1; echo spawned' 2>&1)
n=$(cat $D/pids.current)
[ "$n" -le 20 ] && ok "pids.current $n <= 20" || bad "pids.current $n > 20"
case "$out" in *"Resource temporarily unavailable"* | *"can't fork"*) ok "fork refused" ;; *) bad "fork not refused: $out" ;; esac

echo "== [$(cut -d" " -f1 /proc/uptime)s] ps / pause / resume"
$H --root $R ps c1 >/tmp/ps.out 2>&1 || bad "ps: $(cat /tmp/ps.out)"
grep -q "$pid" /tmp/ps.out && ok "ps lists the init" || bad "ps: $(cat /tmp/ps.out)"
$H --root $R pause c1 || bad "pause"
check "cgroup.freeze after pause" 1 "$(cat $D/cgroup.freeze)"
check "status after pause" paused "$($H --root $R state c1 | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"
grep -q 'frozen 1' $D/cgroup.events && ok "cgroup.events frozen 1" || bad "cgroup.events: $(cat $D/cgroup.events)"
$H --root $R resume c1 || bad "resume"
check "cgroup.freeze after resume" 0 "$(cat $D/cgroup.freeze)"
check "status after resume" running "$($H --root $R state c1 | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')"

echo "== [$(cut -d" " -f1 /proc/uptime)s] kill --all, delete"
$H --root $R kill --all c1 KILL || bad "kill --all"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    grep -q 'populated 0' $D/cgroup.events && break
    sleep 0.3
done
grep -q 'populated 0' $D/cgroup.events && ok "cgroup empty after kill --all" || bad "still populated: $(cat $D/cgroup.procs)"
$H --root $R delete c1 || bad "delete c1"
[ ! -e $D ] && ok "cgroup removed by delete" || bad "$D left"

echo "== [$(cut -d" " -f1 /proc/uptime)s] failed create cleans its cgroup"
B2=/tmp/smoke2
mkbundle $B2 '["true"]' '{"cpu":{"cpus":"7"}}' /hull-smoke/c2
if $H --root $R create --bundle $B2 c2 2>/tmp/c2.err; then
    bad "create with cpuset.cpus=7 on a 2-cpu VM succeeded"
    $H --root $R delete -f c2
else
    ok "create with cpuset.cpus=7 fails: $(head -c 200 /tmp/c2.err)"
fi
[ ! -e $CG/hull-smoke/c2 ] && ok "no cgroup left after failed create" || bad "$CG/hull-smoke/c2 left"

echo "== [$(cut -d" " -f1 /proc/uptime)s] device cgroup denies what is not allowed"
B3=/tmp/smoke3
# a device node neither the spec nor the default list allows (the serial console, c 4:64):
# bind it in under another name; opening it must fail with EPERM from the device cgroup
mkbundle $B3 '["sh","-c","(: > /dev/ser-copy) 2>&1 && echo OPENED || echo DENIED"]' \
    '{"devices":[{"allow":false,"access":"rwm"}]}' /hull-smoke/c3 \
    ',{"destination":"/dev/ser-copy","type":"bind","source":"/dev/ttyS0","options":["bind"]}'
out=$($H --root $R run --bundle $B3 c3 2>&1)
case "$out" in *DENIED*) ok "open of a non-allowed device denied: $out" ;; *) bad "device read: $out" ;; esac
$H --root $R delete -f c3 2>/dev/null

echo "== [$(cut -d" " -f1 /proc/uptime)s] io: weight, per-device weight and throttles on a bfq loop device"
# (the full path: the static busybox sh runs its own losetup applet, which has no --show)
dd if=/dev/zero of=/tmp/io.img bs=1M count=8 2>/dev/null
if dev=$(/usr/sbin/losetup -f --show /tmp/io.img 2>/dev/null) && [ -n "$dev" ]; then
    n=${dev#/dev/}
    echo bfq >/sys/block/$n/queue/scheduler 2>/dev/null
    mm=$(cat /sys/block/$n/dev)
    M=${mm%:*} m=${mm#*:}
    B5=/tmp/smoke5
    mkbundle $B5 '["sleep","1000"]' "{\"blockIO\":{\"weight\":300,
      \"weightDevice\":[{\"major\":$M,\"minor\":$m,\"weight\":500}],
      \"throttleReadBpsDevice\":[{\"major\":$M,\"minor\":$m,\"rate\":1048576}],
      \"throttleWriteIOPSDevice\":[{\"major\":$M,\"minor\":$m,\"rate\":100}]}}" /hull-smoke/c5
    if $H --root $R create --bundle $B5 c5; then
        D=$CG/hull-smoke/c5
        check "io.max" "$mm rbps=1048576 wbps=max riops=max wiops=100" "$(grep "^$mm " $D/io.max)"
        if [ -e $D/io.bfq.weight ]; then
            check "io.bfq.weight default" "default 300" "$(head -n1 $D/io.bfq.weight)"
            check "io.bfq.weight device" "$mm 500" "$(grep "^$mm " $D/io.bfq.weight)"
        else
            bad "no io.bfq.weight although the loop device uses bfq"
        fi
        $H --root $R delete -f c5
    else
        bad "create with blockIO on $dev ($mm)"
    fi
    /usr/sbin/losetup -d "$dev"
else
    echo "skip io: no loop device"
fi
rm -f /tmp/io.img

echo "== [$(cut -d" " -f1 /proc/uptime)s] exec into a container that delegated its cgroup (nested runtime, systemd)"
B6=/tmp/smoke6
mkbundle $B6 '["sh","-c","mkdir /sys/fs/cgroup/init && echo $$ > /sys/fs/cgroup/init/cgroup.procs && echo +memory +pids > /sys/fs/cgroup/cgroup.subtree_control && echo NESTED > /tmp/nested; sleep 1000"]' \
    '{}' /hull-smoke/c6
sed -i 's|"nodev","relatime","ro"\]}|"nodev","relatime","rw"]}|' $B6/config.json
$H --root $R run -d --bundle $B6 c6 || bad "run -d c6"
for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -e $B6/rootfs/tmp/nested ] && break
    sleep 0.3
done
check "controllers delegated inside" "memory pids" "$(cat $CG/hull-smoke/c6/cgroup.subtree_control)"
# the container's cgroup has no process of its own now: exec must join the init's sub-cgroup
check "exec joins the init's cgroup" "0::/init" "$($H --root $R exec c6 cat /proc/self/cgroup 2>&1)"
$H --root $R delete -f c6 || bad "delete -f c6"
[ ! -e $CG/hull-smoke/c6 ] && ok "nested cgroups removed" || bad "$CG/hull-smoke/c6 left"

echo "== [$(cut -d" " -f1 /proc/uptime)s] relative cgroupsPath lands next to the caller's cgroup"
B4=/tmp/smoke4
mkbundle $B4 '["cat","/proc/self/cgroup"]' '{}' rel-smoke
$H --root $R create --bundle $B4 c4 || bad "create c4"
pid=$($H --root $R state c4 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
check "relative path (caller in /init)" "0::/rel-smoke" "$(cat /proc/$pid/cgroup)"
$H --root $R delete -f c4
[ ! -e $CG/rel-smoke ] && ok "relative cgroup removed" || bad "$CG/rel-smoke left"

rmdir $CG/hull-smoke 2>/dev/null
echo "[$(cut -d" " -f1 /proc/uptime)s] v2-smoke: $fails failure(s)"
[ $fails = 0 ]
