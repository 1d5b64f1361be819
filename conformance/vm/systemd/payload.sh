#!/bin/sh
# Runs inside the test VM as a systemd service (systemd is PID 1): exercises
# `hull --systemd-cgroup` and prints one marker line for the host:
#   HULL-SYSTEMD-RESULT: PASS (n checks)   or   HULL-SYSTEMD-RESULT: FAIL (n of m checks failed)
# then powers the VM off. Bundles and rootfs were prepared by run.sh under /hull-test.
exec >/dev/ttyS0 2>&1 </dev/null
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
T=/hull-test
HULL="hull --systemd-cgroup"
CHECKS=0
FAILS=0
START=$(cut -d' ' -f1 /proc/uptime)

ok() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL - $*"; }
# check DESC CMD...: passes when CMD succeeds.
check() { d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
# run DESC CMD...: like check, showing the command's output when it fails.
# (output goes to a file: a detached container keeps create's stdout open.)
run() { d=$1; shift; if "$@" >/tmp/run.out 2>&1; then ok "$d"; else bad "$d: $(cat /tmp/run.out)"; fi; }
# eq DESC GOT WANT
eq() { if [ "$2" = "$3" ]; then ok "$1 = $3"; else bad "$1: got '$2', want '$3'"; fi; }
status() { hull state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }
pid_of() { hull state "$1" 2>/dev/null | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p'; }
prop() { systemctl show -p "$2" --value "$1" 2>/dev/null; }
# unit_gone UNIT: systemd no longer knows the unit (not loaded, or inactive and collected).
unit_gone() {
    s=$(systemctl show -p LoadState --value "$1" 2>/dev/null)
    a=$(systemctl show -p ActiveState --value "$1" 2>/dev/null)
    [ "$s" = "not-found" ] || [ "$a" = "inactive" ]
}
# want SECTION: the section was selected (run.sh's HULL_VM_SECTIONS; none given: all).
want() { [ -z "$(cat $T/sections 2>/dev/null)" ] || grep -qw -- "$1" $T/sections; }
wait_status() {
    i=0
    while [ "$(status "$1")" != "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(status "$1")" = "$2" ]
}

if [ -e /sys/fs/cgroup/cgroup.controllers ]; then MODE=v2; else MODE=hybrid; fi
echo "hull systemd-cgroup VM test: systemd $(systemctl --version | sed -n 1p), cgroup $MODE, kernel $(uname -r)"

if want 1; then
# --- 1. lifecycle with the default cgroupsPath (system.slice:hull:<id>) -----------------
U=hull-t1.scope
run "create t1" $HULL create --bundle $T/b1 t1
eq "t1 status after create" "$(status t1)" created
P=$(pid_of t1)
eq "unit ActiveState" "$(prop $U ActiveState)" active
eq "unit Slice" "$(prop $U Slice)" system.slice
eq "unit Delegate" "$(prop $U Delegate)" yes
eq "unit TasksMax" "$(prop $U TasksMax)" 32
eq "unit CPUQuotaPerSecUSec" "$(prop $U CPUQuotaPerSecUSec)" 500ms
eq "unit TimeoutStopUSec (annotation, seconds)" "$(prop $U TimeoutStopUSec)" 7s
eq "unit CollectMode (annotation)" "$(prop $U CollectMode)" inactive-or-failed
if [ $MODE = v2 ]; then
    D=/sys/fs/cgroup/system.slice/$U
    eq "unit MemoryMax" "$(prop $U MemoryMax)" 67108864
    eq "unit CPUWeight" "$(prop $U CPUWeight)" 20
    eq "unit ControlGroup" "$(prop $U ControlGroup)" /system.slice/$U
    check "scope cgroup $D exists" test -d $D
    eq "memory.max" "$(cat $D/memory.max)" 67108864
    eq "memory.swap.max" "$(cat $D/memory.swap.max 2>/dev/null || echo no-swap-accounting)" 67108864
    eq "pids.max" "$(cat $D/pids.max)" 32
    eq "cpu.max" "$(cat $D/cpu.max)" "50000 100000"
    eq "cpu.weight" "$(cat $D/cpu.weight)" 20
    check "init $P in $D/cgroup.procs" grep -qx "$P" $D/cgroup.procs
    eq "init's /proc/pid/cgroup" "$(cat /proc/$P/cgroup)" "0::/system.slice/$U"
    FREEZE=$D/cgroup.freeze
else
    eq "unit MemoryLimit" "$(prop $U MemoryLimit)" 67108864
    eq "unit CPUShares" "$(prop $U CPUShares)" 512
    D=/sys/fs/cgroup/memory/system.slice/$U
    check "memory cgroup $D exists" test -d $D
    eq "memory.limit_in_bytes" "$(cat $D/memory.limit_in_bytes)" 67108864
    eq "memory.memsw.limit_in_bytes" "$(cat $D/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting)" 134217728
    eq "pids.max" "$(cat /sys/fs/cgroup/pids/system.slice/$U/pids.max)" 32
    eq "cpu.cfs_quota_us" "$(cat /sys/fs/cgroup/cpu,cpuacct/system.slice/$U/cpu.cfs_quota_us)" 50000
    eq "cpu.shares" "$(cat /sys/fs/cgroup/cpu,cpuacct/system.slice/$U/cpu.shares)" 512
    check "init in name=systemd scope" grep -q "name=systemd:/system.slice/$U\$" /proc/$P/cgroup
    check "init in freezer cgroup" grep -q "freezer:/system.slice/$U\$" /proc/$P/cgroup
    check "init in cpuset cgroup (not managed by systemd)" grep -q "cpuset:/system.slice/$U\$" /proc/$P/cgroup
    check "unified scope dir" test -d /sys/fs/cgroup/unified/system.slice/$U
    FREEZE=/sys/fs/cgroup/freezer/system.slice/$U/freezer.state
fi
# systemd re-applies unit settings (daemon-reload, set-property): what hull set must survive.
systemctl daemon-reload
systemctl set-property --runtime $U CPUAccounting=yes
if [ $MODE = v2 ]; then
    eq "memory.max after reload" "$(cat $D/memory.max)" 67108864
    eq "pids.max after reload" "$(cat $D/pids.max)" 32
    eq "cpu.max after reload" "$(cat $D/cpu.max)" "50000 100000"
else
    eq "memory.limit_in_bytes after reload" "$(cat $D/memory.limit_in_bytes)" 67108864
    eq "unit DevicePolicy" "$(prop $U DevicePolicy)" strict
    systemctl set-property --runtime $U DevicePolicy=strict
    DEV=/sys/fs/cgroup/devices/system.slice/$U/devices.list
    check "/dev/null still allowed after the device list was re-applied" grep -qx 'c 1:3 rwm' $DEV
    check "devices.list after reload is still an allow list: $(head -c 60 $DEV | tr '\n' ' ')" sh -c "! grep -qx 'a \*:\* rwm' $DEV"
fi
# A second container whose unit name is taken: refused, t1 is untouched. Its cgroup (the
# unit's) holds t1's init, so create stops at runc's "container's cgroup is not empty" check
# before asking systemd (runc 1.2+ does the same); were it empty, systemd's UnitExists would
# be surfaced.
ERR=$($HULL create --bundle $T/b6 t6 2>&1)
check "create t6 with t1's unit name fails" test $? -ne 0
check "the error names the taken cgroup or unit: $ERR" sh -c 'printf "%s" "$1" | grep -qE "cgroup is not empty: 1 process|org.freedesktop.systemd1.UnitExists: Unit hull-t1.scope"' _ "$ERR"
check "no state left for t6" sh -c '! hull state t6 >/dev/null 2>&1'
eq "t1 unit still active" "$(prop $U ActiveState)" active
check "t1 init still in its scope" grep -q "$U" /proc/$P/cgroup
run "start t1" $HULL start t1
eq "t1 status after start" "$(status t1)" running
check "ps lists the init" sh -c "hull ps --format json t1 | grep -q '$P'"
$HULL exec t1 echo hello >/tmp/exec.out 2>&1
eq "exec in t1" "$(cat /tmp/exec.out)" hello
run "pause t1" $HULL pause t1
eq "t1 status after pause" "$(status t1)" paused
if [ $MODE = v2 ]; then
    eq "cgroup.freeze" "$(cat $FREEZE)" 1
    check "cgroup.events frozen 1" grep -qx "frozen 1" $D/cgroup.events
else
    eq "freezer.state" "$(cat $FREEZE)" FROZEN
fi
run "resume t1" $HULL resume t1
eq "t1 status after resume" "$(status t1)" running
if [ $MODE = v2 ]; then eq "cgroup.freeze after resume" "$(cat $FREEZE)" 0; fi
# update: systemd gets the new values (SetUnitProperties) and so do the cgroup files.
run "update t1" $HULL update --memory 104857600 --pids-limit 40 t1
eq "unit TasksMax after update" "$(prop $U TasksMax)" 40
if [ $MODE = v2 ]; then
    eq "unit MemoryMax after update" "$(prop $U MemoryMax)" 104857600
    eq "memory.max after update" "$(cat $D/memory.max)" 104857600
    eq "pids.max after update" "$(cat $D/pids.max)" 40
else
    eq "unit MemoryLimit after update" "$(prop $U MemoryLimit)" 104857600
    eq "memory.limit_in_bytes after update" "$(cat $D/memory.limit_in_bytes)" 104857600
    eq "pids.max after update" "$(cat /sys/fs/cgroup/pids/system.slice/$U/pids.max)" 40
fi
# An update naming only the period keeps the quota (systemd takes both as one rate), also
# after systemd re-applies the unit.
run "update --cpu-period" $HULL update --cpu-period 200000 t1
systemctl set-property --runtime $U CPUAccounting=yes
if [ $MODE = v2 ]; then
    eq "cpu.max after a period-only update" "$(cat $D/cpu.max)" "50000 200000"
    eq "unit CPUQuotaPerSecUSec after a period-only update" "$(prop $U CPUQuotaPerSecUSec)" 250ms
else
    eq "cpu.cfs_quota_us after a period-only update" "$(cat /sys/fs/cgroup/cpu,cpuacct/system.slice/$U/cpu.cfs_quota_us)" 50000
    eq "cpu.cfs_period_us after a period-only update" "$(cat /sys/fs/cgroup/cpu,cpuacct/system.slice/$U/cpu.cfs_period_us)" 200000
fi
check "events --stats reads the scope's cgroup" sh -c "$HULL events --stats t1 | grep -q '\"limit\":104857600'"
run "kill --all t1" $HULL kill --all t1 KILL
check "t1 stopped" wait_status t1 stopped
run "delete t1" $HULL delete t1
check "unit $U gone after delete" unit_gone $U
check "scope cgroup gone after delete" test ! -e $D
check "t1 state gone" sh -c '! hull state t1 >/dev/null 2>&1'
if [ $MODE = hybrid ]; then
    for h in cpuset freezer memory pids systemd unified; do
        check "no $h cgroup left for t1" test ! -e /sys/fs/cgroup/$h/system.slice/$U
    done
fi
fi

if want 1b; then
# --- 1b. a unit name that passed to another container is not ours to stop ----------------
# t11a's scope goes away when its init dies (systemd collects it); t11b then gets a unit of the
# same name. Deleting t11a must leave t11b alone.
US=hull-shared.scope
run "create t11a" $HULL create --bundle $T/b11 t11a
run "start t11a" $HULL start t11a
run "kill t11a" $HULL kill t11a KILL
check "t11a stopped" wait_status t11a stopped
i=0; while ! unit_gone $US && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "t11a's scope collected" unit_gone $US
run "create t11b (same unit name)" $HULL create --bundle $T/b11 t11b
PB=$(pid_of t11b)
run "delete t11a" $HULL delete t11a
eq "t11b's unit still active after deleting t11a" "$(prop $US ActiveState)" active
check "t11b's init alive after deleting t11a" kill -0 "$PB"
run "delete --force t11b" $HULL delete --force t11b
check "t11b's unit gone" unit_gone $US
fi

if want 2; then
# --- 2. foreground run with "slice:prefix:name" in a nested slice ------------------------
U2=hx-t2.scope
OUT=$($HULL run --bundle $T/b2 t2 2>/tmp/t2.err)
RC=$?
eq "run t2 exit code" "$RC" 0
[ $RC = 0 ] || cat /tmp/t2.err
if [ $MODE = v2 ]; then
    eq "t2 sees its cgroup" "$OUT" "0::/hulltest.slice/hulltest-sub.slice/$U2"
    check "t2 scope gone after run" test ! -e /sys/fs/cgroup/hulltest.slice/hulltest-sub.slice/$U2
else
    check "t2 sees its name=systemd cgroup" sh -c "echo '$OUT' | grep -q 'name=systemd:/hulltest.slice/hulltest-sub.slice/$U2\$'"
fi
check "unit $U2 gone after run" unit_gone $U2
fi

if want 2b; then
# --- 2b. back-to-back short runs: each stops a scope that systemd is collecting right then
# (a regression test for the sd-bus wake-up race: no StopUnit may need a retry).
for i in 1 2 3 4 5; do
    if $HULL --debug run --bundle $T/b5 t9-$i >/tmp/s.out 2>/tmp/s.err; then
        if grep -q retrying /tmp/s.err; then
            bad "run t9-$i needed a retry: $(grep retrying /tmp/s.err | head -n1)"
        else
            ok "run t9-$i"
        fi
    else
        bad "run t9-$i: $(grep -v 'level=debug' /tmp/s.err)"
    fi
    check "unit hull-t9-$i.scope gone" unit_gone hull-t9-$i.scope
done
fi

if want 2c; then
# --- 2c. (v2) linux.resources.unified values systemd manages are passed as properties --------
if [ $MODE = v2 ]; then
    run "create t7 with unified memory.high/pids.max" $HULL create --bundle $T/b7 t7
    D7=/sys/fs/cgroup/system.slice/hull-t7.scope
    eq "unit MemoryHigh" "$(prop hull-t7.scope MemoryHigh)" 50331648
    eq "unit TasksMax from unified pids.max" "$(prop hull-t7.scope TasksMax)" 20
    systemctl set-property --runtime hull-t7.scope CPUAccounting=yes
    eq "memory.high after re-apply" "$(cat $D7/memory.high)" 50331648
    eq "pids.max after re-apply" "$(cat $D7/pids.max)" 20
    run "delete --force t7" $HULL delete --force t7
    check "unit hull-t7.scope gone" unit_gone hull-t7.scope
fi
fi

if want 3; then
# --- 3. delete --force of a running container ---------------------------------------------
run "create+start t3" sh -c "$HULL create --bundle $T/b1 t3 && $HULL start t3"
eq "t3 running" "$(status t3)" running
eq "t3 unit active" "$(prop hull-t3.scope ActiveState)" active
run "delete --force t3" $HULL delete --force t3
check "unit hull-t3.scope gone" unit_gone hull-t3.scope
check "t3 cgroup gone" test ! -e /sys/fs/cgroup/system.slice/hull-t3.scope -a ! -e /sys/fs/cgroup/memory/system.slice/hull-t3.scope
fi

if want 3b; then
# --- 3b. a slice unit as the container's cgroup (name ending in ".slice") ----------------------
run "create+start t10 in its own slice" sh -c "$HULL create --bundle $T/b10 t10 && $HULL start t10"
eq "slice unit active" "$(prop hullpod-t10.slice ActiveState)" active
P10=$(pid_of t10)
if [ $MODE = v2 ]; then
    eq "t10 init cgroup" "$(cat /proc/$P10/cgroup)" "0::/hullpod.slice/hullpod-t10.slice"
    eq "t10 pids.max" "$(cat /sys/fs/cgroup/hullpod.slice/hullpod-t10.slice/pids.max)" 32
else
    check "t10 init in the slice (memory)" grep -q "memory:/hullpod.slice/hullpod-t10.slice\$" /proc/$P10/cgroup
fi
run "delete --force t10" $HULL delete --force t10
check "slice unit gone" unit_gone hullpod-t10.slice
check "t10 cgroup gone" test ! -e /sys/fs/cgroup/hullpod.slice/hullpod-t10.slice -a ! -e /sys/fs/cgroup/memory/hullpod.slice/hullpod-t10.slice
fi

if want 4; then
# --- 4. bad cgroupsPath: clear error, nothing left ------------------------------------------
ERR=$($HULL create --bundle $T/b4 t4 2>&1)
RC=$?
check "bad cgroupsPath fails" test $RC -ne 0
check "error names the format: $ERR" sh -c "echo '$ERR' | grep -q 'slice:prefix:name'"
check "no state left for t4" sh -c '! hull state t4 >/dev/null 2>&1'
fi

if want 5; then
# --- 5. the system bus instead of the private socket (when a bus runs) ----------------------
if [ -S /run/dbus/system_bus_socket ]; then
    run "create t5 over the system bus" env HULL_SYSTEMD_BUS=1 $HULL create --bundle $T/b1 t5
    eq "t5 unit active" "$(prop hull-t5.scope ActiveState)" active
    run "delete t5 over the system bus" env HULL_SYSTEMD_BUS=1 $HULL delete --force t5
    check "unit hull-t5.scope gone" unit_gone hull-t5.scope
else
    echo "skip - no system bus in this VM: the private socket was used throughout"
fi
fi

if want 6; then
# --- 6. (v2) rootless: an unprivileged user's hull in its delegated cgroup ------------------
# The user's service cgroup is delegated (Delegate=yes, chowned): hull (cgroupfs driver, no
# cgroupsPath) makes the container's cgroup next to the user's own one, sets its pids limit
# and places the init there; state under $XDG_RUNTIME_DIR/hull.
if [ $MODE = v2 ]; then
    R=/hull-test/rl
    mkdir -p $R/xdg && chmod 700 $R/xdg && cp -a $T/rootfs $R/rootfs && chown -R 1500:1500 $R
    run "rootless hull as uid 1500 in hull-rl.service" systemctl start hull-rl.service
    eq "rootless: result" "$(cat $R/result 2>/dev/null)" ok
    [ "$(cat $R/result 2>/dev/null)" = ok ] || sed 's/^/    /' $R/log
    eq "rootless: init's cgroup" "$(cat $R/cgroup 2>/dev/null)" "0::/system.slice/hull-rl.service/rl1"
    eq "rootless: pids.max" "$(cat $R/pids.max 2>/dev/null)" 20
    eq "rootless: uid_map" "$(tr -s ' ' <$R/uid_map 2>/dev/null | sed 's/^ //')" "0 1500 1"
    eq "rootless: state dir" "$(cat $R/statedir 2>/dev/null)" "$R/xdg/hull/rl1"
fi
fi

if want 7 || want 7r; then
# --- 7. rootless --systemd-cgroup: the user's systemd instance ------------------------------
# uid 1500's user manager (user@1500.service, as `loginctl enable-linger` would start it) with
# its bus at /run/user/1500/bus. The user runs hull from this system service, i.e. outside the
# user manager's cgroup subtree (like a login shell): the scope goes to the user manager's
# user.slice (systemd has the system instance move the init), the limits are in its cgroup
# files, later commands reach the unit over the user bus, and delete stops it. On hybrid
# cgroups it is refused (a user can only be delegated cgroup v2 controllers).
UID1=1500
XDG=/run/user/$UID1
MGR=/user.slice/user-$UID1.slice/user@$UID1.service
RU=/hull-test/ru
asuser() { ul-setpriv --reuid=$UID1 --regid=$UID1 --clear-groups env -i PATH=$PATH HOME=$RU XDG_RUNTIME_DIR=$XDG "$@"; }
uprop() { asuser systemctl --user show -p "$2" --value "$1" 2>/dev/null; }
uunit_gone() {
    s=$(uprop "$1" LoadState)
    a=$(uprop "$1" ActiveState)
    [ "$s" = "not-found" ] || [ "$a" = "inactive" ]
}
# one_error DESC FILE RC REGEX: failed with exit 1 and exactly one output line matching REGEX.
one_error() {
    if [ "$3" = 1 ] && [ "$(wc -l <"$2")" = 1 ] && grep -qE "$4" "$2"; then
        ok "$1: $(cat "$2")"
    else
        bad "$1 (exit $3): $(cat "$2")"
    fi
}
cp -a $T/rootfs $RU/rootfs && chown -R $UID1:$UID1 $RU/rootfs
mkdir -p $RU/st && chown $UID1:$UID1 $RU/st
run "user manager user@$UID1.service started" systemctl start user@$UID1.service
if ! systemctl -q is-active user@$UID1.service; then
    # Its own log says why (the guest has no journal): run it by hand for a few seconds.
    echo "info - user manager by hand:"
    timeout 5 ul-setpriv --reuid=$UID1 --regid=$UID1 --clear-groups env -i PATH=$PATH HOME=$RU \
        XDG_RUNTIME_DIR=$XDG /usr/lib/systemd/systemd --user --log-target=console --log-level=debug 2>&1 |
        tail -n 40 | sed 's/^/    /'
fi
i=0; while [ ! -S $XDG/bus ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check "user bus $XDG/bus" test -S $XDG/bus
eq "user manager's ControlGroup" "$(asuser systemctl --user show -p ControlGroup --value)" "$MGR"
echo "info - delegated to the user manager: $(cat /sys/fs/cgroup$MGR/cgroup.controllers 2>/dev/null || echo '(hybrid: none)')"
fi

if want 7; then
H="hull --systemd-cgroup"
ustatus() { asuser hull state "$1" 2>/dev/null | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p'; }
uwait_status() {
    i=0
    while [ "$(ustatus "$1")" != "$2" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(ustatus "$1")" = "$2" ]
}
if [ $MODE = v2 ]; then
    U=hull-ru1.scope
    D=/sys/fs/cgroup$MGR/user.slice/$U
    run "rootless create ru1" asuser $H create --bundle $RU/long ru1
    P=$(asuser hull state ru1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
    eq "ru1 unit ActiveState (systemctl --user)" "$(uprop $U ActiveState)" active
    check "systemctl --user list-units shows $U" sh -c "ul-setpriv --reuid=$UID1 --regid=$UID1 --clear-groups env XDG_RUNTIME_DIR=$XDG systemctl --user list-units --no-legend | grep -q $U"
    eq "ru1 unit ControlGroup" "$(uprop $U ControlGroup)" "$MGR/user.slice/$U"
    eq "ru1 unit Slice" "$(uprop $U Slice)" user.slice
    eq "ru1 unit MemoryMax" "$(uprop $U MemoryMax)" 67108864
    eq "ru1 unit TasksMax" "$(uprop $U TasksMax)" 20
    check "no such unit in the system instance" unit_gone $U
    eq "ru1 init's cgroup" "$(cat /proc/$P/cgroup 2>/dev/null)" "0::$MGR/user.slice/$U"
    eq "ru1 memory.max" "$(cat $D/memory.max 2>/dev/null)" 67108864
    eq "ru1 pids.max" "$(cat $D/pids.max 2>/dev/null)" 20
    eq "ru1 scope cgroup owner" "$(stat -c %u $D 2>/dev/null)" $UID1
    eq "ru1 state records the user instance" "$(grep -o '"systemd_user":true' $XDG/hull/ru1/state.json 2>/dev/null)" '"systemd_user":true'
    run "start ru1" asuser $H start ru1
    eq "ru1 status after start" "$(ustatus ru1)" running
    asuser $H exec ru1 echo hello >/tmp/ru-exec.out 2>&1
    eq "exec in ru1" "$(cat /tmp/ru-exec.out)" hello
    run "exec -d in ru1" asuser $H exec -d ru1 sleep 200
    eq "ru1 scope holds init and exec'd process" "$(wc -l <$D/cgroup.procs)" 2
    eq "ps lists 2 processes" "$(asuser hull ps --format json ru1 | tr -d '[] \n' | tr ',' '\n' | grep -c .)" 2
    run "pause ru1" asuser $H pause ru1
    eq "ru1 status after pause" "$(ustatus ru1)" paused
    eq "ru1 cgroup.freeze" "$(cat $D/cgroup.freeze)" 1
    run "resume ru1" asuser $H resume ru1
    eq "ru1 status after resume" "$(ustatus ru1)" running
    eq "ru1 cgroup.freeze after resume" "$(cat $D/cgroup.freeze)" 0
    run "update ru1" asuser $H update --memory 104857600 --pids-limit 40 ru1
    eq "ru1 memory.max after update" "$(cat $D/memory.max)" 104857600
    eq "ru1 pids.max after update" "$(cat $D/pids.max)" 40
    eq "ru1 unit MemoryMax after update" "$(uprop $U MemoryMax)" 104857600
    eq "ru1 unit TasksMax after update" "$(uprop $U TasksMax)" 40
    asuser systemctl --user set-property --runtime $U CPUAccounting=yes
    eq "ru1 memory.max after systemd re-applied the unit" "$(cat $D/memory.max)" 104857600
    check "events --stats reads the scope's cgroup" sh -c "ul-setpriv --reuid=$UID1 --regid=$UID1 --clear-groups env XDG_RUNTIME_DIR=$XDG hull --systemd-cgroup events --stats ru1 | grep -q '\"limit\":104857600'"
    run "kill --all ru1" asuser $H kill --all ru1 KILL
    check "ru1 stopped" uwait_status ru1 stopped
    run "delete ru1" asuser $H delete ru1
    check "unit $U gone after delete" uunit_gone $U
    check "ru1 scope cgroup gone" test ! -e $D
    check "ru1 state gone" test ! -e $XDG/hull/ru1

    OUT=$(asuser $H run --bundle $RU/slice ru2 2>/tmp/ru2.err)
    RC=$?
    eq "rootless run ru2 in app.slice exit code" "$RC" 0
    [ $RC = 0 ] || cat /tmp/ru2.err
    eq "ru2 sees its cgroup" "$OUT" "0::$MGR/app.slice/hx-ru2.scope"
    check "unit hx-ru2.scope gone after run" uunit_gone hx-ru2.scope
    check "ru2 scope cgroup gone" test ! -e /sys/fs/cgroup$MGR/app.slice/hx-ru2.scope

    run "rootless create+start ru3" sh -c "ul-setpriv --reuid=$UID1 --regid=$UID1 --clear-groups env XDG_RUNTIME_DIR=$XDG sh -c '$H create --bundle $RU/long ru3 && $H start ru3'"
    eq "ru3 unit active" "$(uprop hull-ru3.scope ActiveState)" active
    run "delete --force ru3" asuser $H delete --force ru3
    check "unit hull-ru3.scope gone" uunit_gone hull-ru3.scope
    check "ru3 scope cgroup gone" test ! -e /sys/fs/cgroup$MGR/user.slice/hull-ru3.scope

    # Refused: a limit whose controller user@.service does not delegate; no user bus.
    asuser $H create --bundle $RU/cpuset ru4 >/tmp/ru4.err 2>&1
    one_error "cpuset limit refused" /tmp/ru4.err $? "cpuset.*not delegated"
    check "ru4: no state" test ! -e $XDG/hull/ru4
    check "ru4: no unit" uunit_gone hull-ru4.scope
    check "ru4: no cgroup" test ! -e /sys/fs/cgroup$MGR/user.slice/hull-ru4.scope
    asuser env XDG_RUNTIME_DIR=/nonexistent $H --root $RU/st create --bundle $RU/long ru5 >/tmp/ru5.err 2>&1
    one_error "no user bus refused" /tmp/ru5.err $? "no user D-Bus"
    check "ru5: no state" test ! -e $RU/st/ru5
    check "ru5: no unit" uunit_gone hull-ru5.scope
else
    asuser $H create --bundle $RU/long ru1 >/tmp/ru1.err 2>&1
    one_error "hybrid: rootless systemd driver refused" /tmp/ru1.err $? "cannot use rootless systemd cgroups manager on cgroup v1"
    check "ru1: no state" test ! -e $XDG/hull/ru1
    check "ru1: no unit" uunit_gone hull-ru1.scope
    check "ru1: no cgroup" test ! -e /sys/fs/cgroup/unified$MGR/user.slice/hull-ru1.scope
fi
fi

if want 7r && command -v runc >/dev/null; then
# --- 7r. the same with runc (Debian 12's 1.1.5) as the peer -------------------------------------
# Differences are printed as "info" lines; the checks are what both must do.
R="runc --systemd-cgroup"
echo "info - $(runc --version | head -n1)"
if [ $MODE = v2 ]; then
    U=runc-rr1.scope
    D=/sys/fs/cgroup$MGR/user.slice/$U
    run "runc rootless create rr1" asuser $R create --bundle $RU/long rr1
    eq "rr1 unit ActiveState" "$(uprop $U ActiveState)" active
    eq "rr1 unit ControlGroup" "$(uprop $U ControlGroup)" "$MGR/user.slice/$U"
    eq "rr1 memory.max" "$(cat $D/memory.max 2>/dev/null)" 67108864
    eq "rr1 pids.max" "$(cat $D/pids.max 2>/dev/null)" 20
    run "runc start rr1" asuser $R start rr1
    asuser $R exec rr1 echo hello >/tmp/rr-exec.out 2>&1
    eq "runc exec in rr1" "$(cat /tmp/rr-exec.out)" hello
    rm -f $RU/st/rr-exec.pid
    asuser $R exec -d --pid-file $RU/st/rr-exec.pid rr1 sleep 200 >/tmp/rr-exec.out 2>&1
    echo "info - runc: processes in the scope after exec -d: $(wc -l <$D/cgroup.procs) (the exec'd process stays outside when runc may not move it)"
    run "runc pause rr1" asuser $R pause rr1
    eq "rr1 cgroup.freeze" "$(cat $D/cgroup.freeze)" 1
    run "runc resume rr1" asuser $R resume rr1
    run "runc update rr1" asuser $R update --memory 104857600 --pids-limit 40 rr1
    eq "rr1 memory.max after update" "$(cat $D/memory.max)" 104857600
    eq "rr1 pids.max after update" "$(cat $D/pids.max)" 40
    run "runc delete --force rr1" asuser $R delete --force rr1
    check "unit $U gone" uunit_gone $U
    check "rr1 scope cgroup gone" test ! -e $D
    kill -9 "$(cat $RU/st/rr-exec.pid 2>/dev/null)" 2>/dev/null
    asuser $R create --bundle $RU/cpuset rr4 >/tmp/rr4.err 2>&1
    echo "info - runc, cpuset not delegated: exit $?: $(tr '\n' ' ' </tmp/rr4.err | head -c 300)"
    asuser $R delete --force rr4 >/dev/null 2>&1
    asuser env XDG_RUNTIME_DIR=/nonexistent $R --root $RU/st create --bundle $RU/long rr5 >/tmp/rr5.err 2>&1
    echo "info - runc, no user bus: exit $?: $(tr '\n' ' ' </tmp/rr5.err | head -c 300)"
else
    asuser $R create --bundle $RU/long rr1 >/tmp/rr1.err 2>&1
    RC=$?
    check "hybrid: runc refuses too (exit $RC): $(tr '\n' ' ' </tmp/rr1.err | head -c 200)" test $RC -ne 0
    asuser $R delete --force rr1 >/dev/null 2>&1
fi
fi

END=$(cut -d' ' -f1 /proc/uptime)
echo "payload took $(echo "$START $END" | awk '{printf "%.1f", $2 - $1}') s (VM uptime $END s)"
if [ $FAILS -eq 0 ]; then
    echo "HULL-SYSTEMD-RESULT: PASS ($CHECKS checks, cgroup $MODE)"
else
    echo "HULL-SYSTEMD-RESULT: FAIL ($FAILS of $CHECKS checks failed, cgroup $MODE)"
fi
sync
poweroff -f
