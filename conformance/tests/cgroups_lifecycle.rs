//! cgroup conformance, the cgroup side of the lifecycle: `kill --all`, `delete` (every
//! hierarchy, processes and sub-cgroups left behind), pause/resume and `ps`.

mod cgroups_common;

use cgroups_common::*;
use hull_conformance::*;
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

// ---------------------------------------------------------------------------
// lifecycle: kill --all, delete, pause/resume, ps
// ---------------------------------------------------------------------------

/// A bundle of [`cg_bundle`] without a pid namespace of its own, running `sh -c script`: the
/// processes it starts are not killed with the init, only through the cgroup.
fn host_pid_ns_bundle(id: &str, script: &str) -> Bundle {
    let mut b = cg_bundle(id, json!({}));
    b.remove_namespace("pid");
    b.set_args(&["sh", "-c", script]);
    b.save();
    b
}

#[test]
fn kill_all_reaches_every_process() {
    let rt = Runtime::new();
    let id = unique_id("cgkillall");
    // Without a pid namespace killing the init leaves its children: --all must reach them.
    let b = host_pid_ns_bundle(&id, "sleep 1001 & sleep 1002 & wait");
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let o = rt.run(&["exec", "-d", &id, "sleep", "1003"]);
    assert_ok(&o, "exec -d");
    assert!(
        poll_until(T, || cgroup_procs(&cg).len() >= 4),
        "expected 4 processes in the cgroup: {:?}",
        cgroup_procs(&cg)
    );
    let pids = cgroup_procs(&cg);
    let o = rt.run(&["kill", "--all", &id, "TERM"]);
    assert_ok(&o, "kill --all TERM");
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "still alive after kill --all: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    c.wait_status("stopped", T);
    assert!(
        poll_until(T, || cgroup_procs(&cg).is_empty()),
        "cgroup not empty: {:?}",
        cgroup_procs(&cg)
    );
}

/// containerd's runc shim sends `kill --all KILL` after the init exits whenever the
/// container does not own its pid namespace: leftover children are killed and it exits 0,
/// also when nothing is left (runc). Plain `kill TERM` of a stopped container stays an error;
/// plain `kill KILL` of one without its own pid namespace means the whole cgroup (runc 1.3).
#[test]
fn kill_all_of_stopped_container_reaps_leftovers() {
    let rt = Runtime::new();
    let id = unique_id("cgkillstopped");
    let b = host_pid_ns_bundle(&id, "sleep 1004 & exit 0");
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    c.wait_status("stopped", T);
    let left = cgroup_procs(&cg);
    assert_eq!(
        left.len(),
        1,
        "the background sleep outlives the init: {left:?}"
    );
    let o = rt.run(&["kill", "--all", &id, "KILL"]);
    assert_ok(
        &o,
        "kill --all of a stopped container with a leftover child",
    );
    assert!(
        poll_until(T, || !pid_alive(left[0])),
        "leftover child survived kill --all"
    );
    assert!(poll_until(T, || cgroup_procs(&cg).is_empty()));
    let o = rt.run(&["kill", "--all", &id, "KILL"]);
    assert_ok(&o, "kill --all of a stopped container with nothing left");
    let o = rt.run(&["kill", &id, "KILL"]);
    if is_crun() {
        // crun 1.28 signals only the (gone) init: "kill container: No such process", exit 1.
        assert_fail1(&o, "crun: kill KILL of a stopped container");
    } else {
        assert_ok(
            &o,
            "kill KILL of a stopped container sharing the pid namespace",
        );
    }
    let o = rt.run(&["kill", &id, "TERM"]);
    assert_fail1(&o, "kill TERM of a stopped container");
    // runc's words; crun 1.28 says "kill container: No such process"
    let words = if is_crun() {
        "No such process"
    } else {
        "container not running"
    };
    assert!(stderr_str(&o).contains(words), "{}", describe(&o));
    let o = rt.run(&["delete", &id]);
    assert_ok(&o, "delete");
    for args in [
        vec!["kill", "--all", &id, "KILL"],
        vec!["kill", &id, "KILL"],
        vec!["state", &id],
    ] {
        let o = rt.run(&args);
        assert_fail1(&o, &format!("{args:?} of a deleted container"));
        assert!(
            stderr_str(&o).contains("does not exist"),
            "{}",
            describe(&o)
        );
    }
    assert_no_state(&rt, &id);
    assert_no_cgroup(&cg);
}

/// Without a pid namespace of its own, killing the init leaves its children alive: runc's
/// `kill KILL` (no --all) then signals the whole cgroup (crun 1.28 signals the init only:
/// conformance/peers/crun-1.28.txt).
#[test]
fn kill_sigkill_without_pid_ns_kills_every_process() {
    let rt = Runtime::new();
    let id = unique_id("cgkillhostpid");
    let b = host_pid_ns_bundle(&id, "sleep 1005 & sleep 1006 & wait");
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 3));
    let pids = cgroup_procs(&cg);
    let o = rt.run(&["kill", &id, "KILL"]);
    assert_ok(&o, "kill KILL");
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "still alive after kill KILL: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    c.wait_status("stopped", T);
}

#[test]
fn delete_removes_cgroup_in_every_hierarchy() {
    let rt = Runtime::new();
    let id = unique_id("cgdel");
    let b = cg_bundle(&id, json!({}));
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let mut want: Vec<PathBuf> = all_hierarchies()
        .iter()
        .map(|m| m.join(cg.trim_start_matches('/')))
        .collect();
    if is_runc() && kind() == CgroupKind::Hybrid {
        // runc 1.1 makes no directory in the hybrid unified mount
        want.retain(|p| !p.starts_with("/sys/fs/cgroup/unified"));
    }
    want.sort();
    let mut have = cgroup_leftovers(&cg);
    have.sort();
    let missing: Vec<_> = want.iter().filter(|p| !have.contains(p)).collect();
    assert!(missing.is_empty(), "no container cgroup in {missing:?}");
    // the init is in the container's cgroup in every hierarchy
    let pid = c.pid();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        // v1: the cgroup2 line is no hierarchy of ours; v2: only the cgroup2 line counts
        if (kind() == CgroupKind::V1) == ctrls.is_empty() && kind() != CgroupKind::Hybrid {
            continue;
        }
        if is_runc() && kind() == CgroupKind::Hybrid && ctrls.is_empty() {
            continue;
        }
        assert_eq!(path, cg, "init's cgroup in hierarchy {ctrls:?}: {own}");
    }
    c.kill("KILL");
    c.wait_status("stopped", T);
    c.delete();
    assert_no_state(&rt, &id);
    assert_cgroup_gone(&cg, "cgroup left after delete");

    // delete --force of a running container
    let id2 = unique_id("cgdelf");
    let b2 = cg_bundle(&id2, json!({}));
    let c2 = Container::started(&rt, &b2, &id2);
    let cg2 = test_cgroups_path(&id2);
    let pids = cgroup_procs(&cg2);
    assert!(!pids.is_empty());
    let o = c2.delete_force();
    assert_ok(&o, "delete --force");
    assert_all_dead(&pids, "processes survived");
    assert_cgroup_gone(&cg2, "cgroup left after delete --force");
}

#[test]
fn delete_kills_processes_left_in_the_cgroup() {
    let rt = Runtime::new();
    let id = unique_id("cgdelleft");
    // no pid namespace: the init exits and leaves a child behind in the cgroup
    let b = host_pid_ns_bundle(&id, "sleep 1000 & echo started; exit 0");
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    c.wait_status("stopped", T);
    assert!(
        poll_until(T, || !cgroup_procs(&cg).is_empty()),
        "the background sleep is not in the cgroup"
    );
    let left = cgroup_procs(&cg);
    c.delete();
    assert_all_dead(&left, "processes left in the cgroup survived delete");
    assert_cgroup_gone(&cg, "cgroup left after delete");
}

#[test]
fn delete_removes_sub_cgroups_made_inside() {
    let rt = Runtime::new();
    let id = unique_id("cgsub");
    let mut b = cg_bundle(&id, json!({}));
    writable_cgroupfs(&mut b);
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let mount = ["pids", "memory", "cgroup"]
        .iter()
        .find_map(|c| ctrl_mount(c))
        .unwrap();
    sleep_in_sub_cgroup(&rt, &id, &mount, "sub/deeper");
    let pids = cgroup_procs(&cg);
    let o = c.delete_force();
    assert_ok(&o, "delete --force");
    assert_all_dead(&pids, "processes survived delete --force");
    assert_cgroup_gone(&cg, "cgroup (or its sub-cgroups) left after delete --force");
}

/// The freezer file of the container on the host, and what it shows frozen / thawed.
fn freezer_check(cg: &str, frozen: bool) {
    if let Some(m) = ctrl_mount("freezer") {
        let st = fs::read_to_string(host_dir(&m, cg).join("freezer.state")).unwrap();
        let want = if frozen { "FROZEN" } else { "THAWED" };
        assert_eq!(st.trim(), want, "freezer.state of {cg}");
    } else {
        let m = ctrl_mount("cgroup").expect("a freezer (v1 or cgroup2)");
        let d = host_dir(&m, cg);
        let f = fs::read_to_string(d.join("cgroup.freeze")).unwrap();
        assert_eq!(
            f.trim(),
            if frozen { "1" } else { "0" },
            "cgroup.freeze of {cg}"
        );
        let ev = fs::read_to_string(d.join("cgroup.events")).unwrap();
        let line = format!("frozen {}", u8::from(frozen));
        assert!(ev.lines().any(|l| l == line), "cgroup.events of {cg}: {ev}");
    }
}

#[test]
fn pause_resume_freezes_the_cgroup() {
    let rt = Runtime::new();
    let id = unique_id("cgpause");
    let mut b = cg_bundle(&id, json!({}));
    b.set_readonly(false);
    b.set_args(&[
        "sh",
        "-c",
        "i=0; while :; do i=$((i+1)); echo $i > /tmp/cnt; sleep 0.02; done",
    ]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let cnt = c.host_path("/tmp/cnt");
    let read = || -> u64 {
        fs::read_to_string(&cnt)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(poll_until(T, || read() > 2), "counter does not run");
    let o = rt.run(&["pause", &id]);
    assert_ok(&o, "pause");
    assert_eq!(c.status().as_deref(), Some("paused"));
    freezer_check(&cg, true);
    let a = read();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), a, "the counter advanced while paused");
    let o = rt.run(&["resume", &id]);
    assert_ok(&o, "resume");
    assert_eq!(c.status().as_deref(), Some("running"));
    freezer_check(&cg, false);
    assert!(poll_until(T, || read() > a), "counter did not resume");
    // inside: the container's own freezer state is thawed
    let v = View::new(&c, &cg);
    if ctrl_mount("freezer").is_some() {
        v.expect("freezer", "freezer.state", "THAWED");
    } else {
        v.expect("cgroup", "cgroup.freeze", "0");
    }
}

#[test]
fn paused_container_kill_all_and_delete_force() {
    let rt = Runtime::new();
    // kill --all KILL of a paused container reaches every process (frozen tasks die)
    let id = unique_id("cgpkill");
    let b = host_pid_ns_bundle(&id, "sleep 1001 & sleep 1002 & wait");
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 3));
    let pids = cgroup_procs(&cg);
    assert_ok(&rt.run(&["pause", &id]), "pause");
    freezer_check(&cg, true);
    assert_ok(
        &rt.run(&["kill", "--all", &id, "KILL"]),
        "kill --all KILL (paused)",
    );
    assert!(
        poll_until(T, || pids.iter().all(|p| !pid_alive(*p))),
        "processes of a paused container survived kill --all KILL: {:?}",
        pids.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>()
    );
    c.wait_status("stopped", T);
    c.delete();
    assert_cgroup_gone(&cg, "cgroup left");

    // delete --force of a paused container kills it and removes the (frozen) cgroup
    let id2 = unique_id("cgpdel");
    let b2 = cg_bundle(&id2, json!({}));
    let c2 = Container::started(&rt, &b2, &id2);
    let cg2 = test_cgroups_path(&id2);
    let pids2 = cgroup_procs(&cg2);
    assert_ok(&rt.run(&["pause", &id2]), "pause");
    assert_eq!(c2.status().as_deref(), Some("paused"));
    assert_ok(&c2.delete_force(), "delete --force (paused)");
    assert_no_state(&rt, &id2);
    assert_all_dead(
        &pids2,
        "processes of a paused container survived delete --force",
    );
    assert_cgroup_gone(
        &cg2,
        "cgroup left after delete --force of a paused container",
    );
}

/// runc resumes a paused container after `kill --all` with any signal, so a TERM handler can
/// run and the container can stop; the state must say so.
#[test]
fn kill_all_term_resumes_a_paused_container() {
    let rt = Runtime::new();
    let id = unique_id("cgpterm");
    let mut b = cg_bundle(&id, json!({}));
    b.set_args(&[
        "sh",
        "-c",
        "trap 'exit 7' TERM; while :; do sleep 0.1; done",
    ]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 2));
    assert_ok(&rt.run(&["pause", &id]), "pause");
    assert_eq!(c.status().as_deref(), Some("paused"));
    assert_ok(&rt.run(&["kill", "--all", &id, "TERM"]), "kill --all TERM");
    freezer_check(&cg, false);
    c.wait_status("stopped", T);
}

/// `ps` of a stopped container succeeds with nothing listed, as runc's (JSON `null`, the
/// table only its header).
#[test]
fn ps_of_a_stopped_container_is_empty() {
    let rt = Runtime::new();
    let id = unique_id("cgpsstop");
    let mut b = cg_bundle(&id, json!({}));
    b.set_args(&["true"]);
    b.save();
    let c = Container::started(&rt, &b, &id);
    c.wait_status("stopped", T);
    let o = rt.run(&["ps", "--format", "json", &id]);
    assert_ok(&o, "ps --format json of a stopped container");
    if is_crun() {
        // crun 1.28 prints an empty array where runc prints `null`.
        let v: Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("ps json ({e}): {}", describe(&o)));
        assert_eq!(v, json!([]), "{}", describe(&o));
    } else {
        assert_eq!(stdout_str(&o).trim(), "null", "{}", describe(&o));
    }
    let o = rt.run(&["ps", &id]);
    assert_ok(&o, "ps of a stopped container");
    assert_eq!(stdout_str(&o).lines().count(), 1, "{}", describe(&o));
    assert!(stderr_str(&o).is_empty(), "{}", describe(&o));
}

#[test]
fn ps_lists_the_container_pids() {
    let rt = Runtime::new();
    let id = unique_id("cgps");
    let mut b = cg_bundle(&id, json!({}));
    b.set_args(&["sh", "-c", "sleep 1001 & sleep 1002 & wait"]);
    b.save();
    let _c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert!(poll_until(T, || cgroup_procs(&cg).len() >= 3));
    let o = rt.run(&["ps", "--format", "json", &id]);
    assert_ok(&o, "ps --format json");
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("ps json ({e}): {}", describe(&o)));
    let mut pids: Vec<i32> = v
        .as_array()
        .expect("ps json is an array")
        .iter()
        .map(|p| p.as_i64().expect("pid") as i32)
        .collect();
    pids.sort_unstable();
    assert_eq!(pids, cgroup_procs(&cg), "ps --format json vs cgroup.procs");
    let o = rt.run(&["ps", &id]);
    assert_ok(&o, "ps");
    let table = stdout_str(&o);
    assert!(
        table.lines().next().unwrap_or("").contains("PID"),
        "{table}"
    );
    // runc's table is `ps -ef`'s (UID PID ...); crun 1.28's has the PID column only.
    let pid_column = if is_crun() { 0 } else { 1 };
    for p in &pids {
        assert!(
            table.lines().skip(1).any(|l| l
                .split_whitespace()
                .nth(pid_column)
                .is_some_and(|f| f == p.to_string())),
            "pid {p} missing in ps table: {table}"
        );
    }
}
