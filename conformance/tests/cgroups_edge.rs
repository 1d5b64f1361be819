//! cgroup edge cases where hull follows runc's rules (issue 7): `unified` on a host that is
//! not pure cgroup v2, `pids.limit: 0`, a cgroup that already has processes or is frozen, and
//! device rules across `update`. Checked on the host and, where it shows, from inside.

mod cgroups_common;

use cgroups_common::*;
use hull_conformance::*;
use serde_json::json;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// runc's minor version (1.1.5 → 1), or None when the binary under test is not runc.
fn runc_minor() -> Option<u32> {
    if !is_runc() {
        return None;
    }
    let o = Command::new(hull_bin()).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let v = text.lines().next()?.rsplit(' ').next()?.to_string();
    v.split('.').nth(1)?.parse().ok()
}

#[test]
fn unified_on_a_v1_host_is_invalid_configuration() {
    if kind() == CgroupKind::V2 {
        skip(
            "unified on v1",
            "pure cgroup v2 host: unified is applied (cgroups_unified)",
        );
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgedgeuni");
    let b = cg_bundle(&id, json!({ "unified": { "pids.max": "42" } }));
    // runc 1.1.5, 1.3.6 and crun say exactly this, hybrid hosts included.
    // crun 1.28 bug: it leaves the container's cgroup directories in every v1 hierarchy after
    // refusing (conformance/peers/crun-1.28.txt).
    assert_create_refused(
        &rt,
        &b,
        &id,
        &["invalid configuration: cannot use unified on cgroup v1"],
    );
}

/// runc 1.4's rule: the kernel would take 0, but 0 and 1 allow the same (the process in the
/// cgroup cannot fork), and systemd has no TasksMax=0.
/// crun 1.28 bug: it writes "max" for 0, although runtime-spec 1.3 made 0 a real limit and -1
/// the unlimited value (opencontainers/runtime-spec#1279).
#[test]
fn pids_limit_zero_is_one() {
    if !require("pids zero", &["pids"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgedgepids");
    let b = cg_bundle(&id, json!({ "pids": { "limit": 0 } }));
    let _c = Container::started(&rt, &b, &id);
    // Read on the host only: with pids.max 1 nothing more can enter the cgroup by forking,
    // not even an `exec`.
    let mount = ctrl_mount("pids").unwrap();
    let file = host_dir(&mount, &test_cgroups_path(&id)).join("pids.max");
    let max = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    if runc_minor().is_some_and(|m| m < 4) {
        // runc before 1.4 ignored a limit of 0 (opencontainers/runc#4014).
        assert_eq!(max.trim(), "max");
        return;
    }
    assert_eq!(max.trim(), "1", "{}", file.display());
}

/// The container's cgroup directory in every hierarchy, made before the container.
struct Precreated {
    cg: String,
    dirs: Vec<PathBuf>,
}

impl Precreated {
    fn new(id: &str) -> Precreated {
        let cg = test_cgroups_path(id);
        let mut dirs = Vec::new();
        for m in all_hierarchies() {
            let d = m.join(cg.trim_start_matches('/'));
            fs::create_dir_all(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
            dirs.push(d);
        }
        Precreated { cg, dirs }
    }

    /// Moves `pid` into every hierarchy that takes it (a v1 cpuset cgroup has no cpus yet).
    fn enter(&self, pid: u32) {
        let joined = self
            .dirs
            .iter()
            .filter(|d| fs::write(d.join("cgroup.procs"), pid.to_string()).is_ok())
            .count();
        assert!(joined > 0, "could not move {pid} into {:?}", self.dirs);
    }

    /// Freezes it with the freezer this host has.
    fn freeze(&self) -> bool {
        self.dirs.iter().any(|d| {
            fs::write(d.join("freezer.state"), "FROZEN").is_ok()
                || fs::write(d.join("cgroup.freeze"), "1").is_ok()
        })
    }
}

impl Drop for Precreated {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
        remove_cgroup(&self.cg);
    }
}

struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn create_into_a_non_empty_cgroup_is_refused() {
    let rt = Runtime::new();
    let id = unique_id("cgedgebusy");
    let b = cg_bundle(&id, json!({}));
    let pre = Precreated::new(&id);
    let sleeper = Sleeper(
        Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep"),
    );
    pre.enter(sleeper.0.id());
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    // runc >= 1.2's check; the runtime-spec only says a runtime MAY refuse a non-empty cgroup
    // (crun 1.28 runs the container in it: conformance/peers/crun-1.28.txt).
    let words = "container's cgroup is not empty: 1 process(es) found";
    if runc_minor().is_some_and(|m| m < 2) {
        // runc 1.1 only warned (refused since 1.2, opencontainers/runc#3132).
        assert_ok(&o, "runc 1.1 create into a non-empty cgroup");
        assert!(stderr_str(&o).contains(words), "{}", describe(&o));
        return;
    }
    assert_fail1(&o, "create into a non-empty cgroup");
    assert!(stderr_str(&o).contains(words), "{}", describe(&o));
    assert_no_state(&rt, &id);
    // Nothing of the cgroup's owner was touched.
    assert!(
        pid_alive(sleeper.0.id() as i32),
        "the process in the cgroup was killed"
    );
    assert!(
        pre.dirs.iter().all(|d| d.exists()),
        "the cgroup was removed"
    );
}

#[test]
fn create_into_a_frozen_cgroup_is_refused() {
    let rt = Runtime::new();
    let id = unique_id("cgedgefrozen");
    let b = cg_bundle(&id, json!({}));
    let pre = Precreated::new(&id);
    if !pre.freeze() {
        skip("frozen cgroup", "no freezer on this host");
        return;
    }
    // crun 1.28 bug: its create never returns (the init it puts in the frozen cgroup cannot
    // report back). The spec lets a runtime skip the check, not hang.
    let c = Container::with_id(&rt, &b, &id);
    let o = c.try_create();
    assert_fail1(&o, "create into a frozen cgroup");
    let err = stderr_str(&o);
    assert!(
        err.contains("container's cgroup unexpectedly frozen"),
        "{}",
        describe(&o)
    );
    assert_no_state(&rt, &id);
    assert!(
        pre.dirs.iter().all(|d| d.exists()),
        "the cgroup was removed"
    );
}

/// `update --resources` with a device rule that denies: from then on the device cannot be
/// opened inside, and a later update of something else does not reset the device cgroup.
/// runc ignores `devices` in an update (it sets SkipDevices), and so does crun 1.28; hull
/// applies the rules that deny (an update never grants device access:
/// update::update_keeps_device_rules). The runtime-spec has no update operation.
#[test]
fn update_device_deny_takes_effect() {
    let rt = Runtime::new();
    let id = unique_id("cgedgedev");
    let b = cg_bundle(&id, json!({}));
    let c = Container::started(&rt, &b, &id);
    let read = |dev: &str| {
        let o = c.exec(&["sh", "-c", &format!("head -c 1 {dev} | wc -c")]);
        stdout_str(&o).trim().to_string()
    };
    assert_eq!(
        read("/dev/zero"),
        "1",
        "/dev/zero not readable before the update"
    );

    let tmp = TempDir::new("cgedgedev");
    let file = tmp.path().join("deny-zero.json");
    let deny = json!({ "devices": [
        { "allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm" }
    ] });
    fs::write(&file, deny.to_string()).unwrap();
    assert_ok(
        &rt.run(&["update", "-r", file.to_str().unwrap(), &id]),
        "update with a device deny rule",
    );
    if is_runc() || is_crun() {
        // runc documents that `update` cannot change device rules; crun does not apply them.
        assert_eq!(read("/dev/zero"), "1", "the peer applied a device rule");
        return;
    }
    assert_eq!(
        read("/dev/zero"),
        "0",
        "/dev/zero still readable after the update"
    );
    assert_eq!(read("/dev/urandom"), "1", "/dev/urandom denied too");
    assert_ok(
        &rt.run(&["update", "--pids-limit", "100", &id]),
        "update pids",
    );
    assert_eq!(
        read("/dev/zero"),
        "0",
        "a later update of the pids limit lifted the deny"
    );
}

/// `delete --force` of a running container that made sub-cgroups in every hierarchy it sees
/// (a process left in one of them): every directory goes, deepest first, and the process dies.
/// cgroups_lifecycle::delete_removes_sub_cgroups_made_inside does it in one hierarchy.
#[test]
fn delete_force_removes_sub_cgroups_in_every_hierarchy() {
    let rt = Runtime::new();
    let id = unique_id("cgedgesub");
    let mut b = cg_bundle(&id, json!({}));
    writable_cgroupfs(&mut b);
    let c = Container::started(&rt, &b, &id);
    let o = c.exec(&[
        "sh",
        "-c",
        "n=0; for d in /sys/fs/cgroup /sys/fs/cgroup/*; do \
           [ -e $d/cgroup.procs ] && mkdir -p $d/sub/deeper && n=$((n+1)); done; echo made=$n",
    ]);
    assert_ok(&o, "exec mkdir sub-cgroups");
    let made: usize = stdout_str(&o)
        .trim()
        .strip_prefix("made=")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(made > 0, "no sub-cgroup made: {}", describe(&o));
    let cg = test_cgroups_path(&id);
    let mount = ["pids", "memory", "cgroup"]
        .iter()
        .find_map(|c| ctrl_mount(c))
        .unwrap();
    sleep_in_sub_cgroup(&rt, &id, &mount, "sub/deeper");
    let pids = cgroup_procs(&cg);
    assert_ok(&c.delete_force(), "delete --force");
    assert_all_dead(&pids, "processes survived delete --force");
    assert_cgroup_gone(&cg, "cgroup (or its sub-cgroups) left after delete --force");
}
