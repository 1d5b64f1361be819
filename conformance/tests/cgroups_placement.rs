//! cgroup conformance: where the container's cgroup goes for an absolute, relative and
//! missing `linux.cgroupsPath`, and what the container sees without a cgroup namespace.

mod cgroups_common;

use cgroups_common::*;
use hull_conformance::*;
use serde_json::json;
use std::fs;
use std::path::PathBuf;

// ---------------------------------------------------------------------------
// where the cgroup goes
// ---------------------------------------------------------------------------

/// The init's cgroup paths from /proc/<pid>/cgroup, as full host paths
/// (/sys/fs/cgroup/<mount>/<path>), for the hierarchies that are mounted.
fn init_cgroup_dirs(pid: i32) -> Vec<PathBuf> {
    let s = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut v = Vec::new();
    for line in s.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let mount = match (kind(), ctrls) {
            (CgroupKind::V2, "") => String::new(),
            (CgroupKind::Hybrid, "") => "unified".to_string(),
            (CgroupKind::V1, "") | (CgroupKind::V2, _) => continue,
            (_, c) => c.strip_prefix("name=").unwrap_or(c).to_string(),
        };
        v.push(host_dir(&mount, path));
    }
    v.sort();
    v
}

/// rmdirs (after killing what is in them) the given cgroup directories on drop.
struct CgDirs(Vec<PathBuf>);

impl Drop for CgDirs {
    fn drop(&mut self) {
        remove_cgroup_dirs(&self.0);
    }
}

fn check_cgroup_dirs(rt: &Runtime, b: &Bundle, id: &str, want: &[PathBuf]) {
    let c = Container::started(rt, b, id);
    let mut want = want.to_vec();
    if is_runc() && kind() == CgroupKind::Hybrid {
        want.retain(|p| !p.starts_with("/sys/fs/cgroup/unified"));
    }
    want.sort();
    for p in &want {
        assert!(
            p.is_dir(),
            "container cgroup {} does not exist",
            p.display()
        );
    }
    let mut have = init_cgroup_dirs(c.pid());
    have.retain(|p| {
        !(is_runc() && kind() == CgroupKind::Hybrid && p.starts_with("/sys/fs/cgroup/unified"))
    });
    assert_eq!(have, want, "init's cgroups");
    // inside, with a cgroup namespace, the container is at the root of every hierarchy
    let o = c.exec(&["cat", "/proc/self/cgroup"]);
    assert_ok(&o, "cat /proc/self/cgroup");
    for l in stdout_str(&o).lines() {
        let path = l.splitn(3, ':').nth(2).unwrap_or("");
        if kind() == CgroupKind::V1 && l.starts_with("0::") {
            continue;
        }
        assert_eq!(path, "/", "inside view of {l:?} with a cgroup namespace");
    }
    c.kill("KILL");
    c.wait_status("stopped", T);
    c.delete();
    assert!(
        poll_until(T, || want.iter().all(|p| !p.exists())),
        "cgroup left after delete: {:?}",
        want.iter().filter(|p| p.exists()).collect::<Vec<_>>()
    );
}

#[test]
fn cgroups_path_absolute() {
    let rt = Runtime::new();
    let id = unique_id("cgabs");
    let b = cg_bundle(&id, json!({}));
    let cg = test_cgroups_path(&id);
    let want: Vec<PathBuf> = all_hierarchies()
        .iter()
        .map(|m| m.join(cg.trim_start_matches('/')))
        .collect();
    check_cgroup_dirs(&rt, &b, &id, &want);
}

#[test]
fn cgroups_path_relative() {
    let rt = Runtime::new();
    let id = unique_id("cgrel");
    let rel = format!("hull-conf-rel/{id}");
    let mut b = cg_bundle(&id, json!({}));
    b.config["linux"]["cgroupsPath"] = json!(rel);
    b.save();
    // relative: below the caller's cgroup (v2: below its parent), like runc; crun: below the
    // root of every hierarchy (default_cgroup_dirs)
    let want = default_cgroup_dirs(&rel);
    let _guard = CgDirs(want.clone());
    check_cgroup_dirs(&rt, &b, &id, &want);
    // the intermediate "hull-conf-rel" dirs stay (like runc); remove ours if empty
    for p in &want {
        if let Some(parent) = p.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

#[test]
fn cgroups_path_default() {
    let rt = Runtime::new();
    let id = unique_id("cgdef");
    let mut b = cg_bundle(&id, json!({}));
    b.config["linux"]
        .as_object_mut()
        .unwrap()
        .remove("cgroupsPath");
    b.save();
    // none: <caller's cgroup>/<id> (v2: <parent of the caller's cgroup>/<id>), like runc; crun:
    // /<id> in every hierarchy (default_cgroup_dirs)
    let want = default_cgroup_dirs(&id);
    let _guard = CgDirs(want.clone());
    check_cgroup_dirs(&rt, &b, &id, &want);
    assert!(default_cgroup_leftovers(&id).is_empty());
}

#[test]
fn inside_view_without_cgroup_namespace() {
    if !require("inside view", &["pids"]) {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgnons");
    let mut b = cg_bundle(&id, json!({ "pids": { "limit": 77 } }));
    b.remove_namespace("cgroup");
    b.save();
    let c = Container::started(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let m = ctrl_mount("pids").expect("pids controller");
    // v1: the container's own cgroup is bound at /sys/fs/cgroup/<hierarchy>; a fresh cgroup2
    // mount without a cgroup namespace shows the whole tree (runc on v2): accept both.
    let own = inside_path(&m, "pids.max");
    let full = inside_path(&m, &format!("{}/pids.max", cg.trim_start_matches('/')));
    let o = c.exec(&["sh", "-c", &format!("cat {own} 2>/dev/null || cat {full}")]);
    assert_ok(&o, "read pids.max inside");
    assert_eq!(stdout_str(&o).trim(), "77");
    // the default cgroupfs mount is read-only
    let o = c.exec(&["sh", "-c", &format!("echo 5 > {own}")]);
    assert!(!o.status.success(), "wrote to a read-only cgroupfs");
    assert!(
        stderr_str(&o).contains("Read-only file system"),
        "{}",
        describe(&o)
    );
    // /proc/self/cgroup shows the host path
    let o = c.exec(&["cat", "/proc/self/cgroup"]);
    let s = stdout_str(&o);
    assert!(
        s.lines().any(|l| l.ends_with(&format!(":{cg}"))),
        "no {cg} in {s}"
    );
}

/// Removes the container's cgroup directories (wherever the runtime put them) on drop.
struct CgPath(String);

impl Drop for CgPath {
    fn drop(&mut self) {
        remove_cgroup(&self.0);
    }
}

/// /sys mounted again over itself (sandboxes and nested runtimes bind / or /sys onto itself)
/// lists every cgroup mount twice in mountinfo. The container's /sys/fs/cgroup still shows
/// each hierarchy once, and create does not fail mounting one twice (runc keeps the first
/// mount of each subsystem).
#[test]
fn cgroupfs_with_sys_mounted_over_itself() {
    let rt = Runtime::new();
    let id = unique_id("cgsys2");
    let mut b = cg_bundle(&id, json!({}));
    b.set_args(&["sh", "-c", "ls /sys/fs/cgroup"]);
    b.save();
    let _cleanup = CgPath(test_cgroups_path(&id));
    let _c = Container::with_id(&rt, &b, &id);
    let run = rt.cmd(&["run", "--bundle", b.dir_str(), &id]);
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --rbind /sys /sys && exec "$0" "$@""#)
        .arg(run.get_program())
        .args(run.get_args())
        .stdin(std::process::Stdio::null());
    let o = output_with_timeout(&mut cmd, budget(std::time::Duration::from_secs(30)));
    assert_ok(&o, "run with /sys mounted over itself");
    let listed: Vec<String> = stdout_str(&o)
        .split_whitespace()
        .map(String::from)
        .collect();
    // the host's hierarchies: cgroup and cgroup2 mounts at /sys/fs/cgroup/<name>
    let info = own_mountinfo();
    let mut host: Vec<String> = (info.lines().filter_map(parse_mountinfo_line))
        .filter(|m| matches!(m.fstype, "cgroup" | "cgroup2"))
        .filter_map(|m| Some(m.mount_point.strip_prefix("/sys/fs/cgroup/")?.to_string()))
        .collect();
    host.dedup();
    if kind() == CgroupKind::V2 {
        // one cgroup2 mount: the container sees its cgroup's files, no hierarchy names
        assert!(listed.iter().any(|f| f == "cgroup.procs"), "{listed:?}");
        return;
    }
    host.retain(|n| !(is_runc() && n == "unified"));
    for h in &host {
        assert!(
            listed.contains(h),
            "{h} missing from the container's /sys/fs/cgroup: {listed:?}"
        );
    }
}
