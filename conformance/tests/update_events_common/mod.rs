//! Helpers shared by the `update` and `events` tests (`update.rs`, `events.rs`): the
//! container's cgroup files host-side on cgroup v1 / hybrid or v2, a bundle with a test cgroup
//! and its guard, running a runtime command with stdin, and runc's error text.
//! Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use hull_conformance::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

pub const T: Duration = Duration::from_secs(10);

/// Script that idles until TERM (pid 1 in a pid namespace needs a handler).
pub const IDLE: &str = "trap 'exit 0' TERM; while :; do sleep 0.1; done";

/// True on a pure cgroup v2 host (cgroup2 at /sys/fs/cgroup); false on v1 / hybrid, where the
/// resource controllers are v1 hierarchies.
pub fn is_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup file of a container with cgroupsPath `cg`: `<v1 controller>/<cg>/<v1 file>` on
/// v1/hybrid hosts, `<cg>/<v2 file>` on v2.
pub fn cg_file(cg: &str, ctrl: &str, v1: &str, v2: &str) -> PathBuf {
    let rel = cg.trim_start_matches('/');
    if is_v2() {
        Path::new("/sys/fs/cgroup").join(rel).join(v2)
    } else {
        Path::new("/sys/fs/cgroup").join(ctrl).join(rel).join(v1)
    }
}

pub fn read_cg(cg: &str, ctrl: &str, v1: &str, v2: &str) -> String {
    let p = cg_file(cg, ctrl, v1, v2);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

pub fn memory_limit(cg: &str) -> String {
    read_cg(cg, "memory", "memory.limit_in_bytes", "memory.max")
}

pub fn pids_max(cg: &str) -> String {
    read_cg(cg, "pids", "pids.max", "pids.max")
}

/// v1 reports "unlimited" memory as a huge page-aligned number, v2 as "max".
pub fn is_unlimited(v: &str) -> bool {
    v == "max" || v.parse::<u64>().is_ok_and(|n| n > 1 << 62)
}

/// Removes the container's cgroup directories on drop (the harness' Bundle guard covers the
/// v1/hybrid hierarchies; this also covers a pure v2 host).
pub struct CgGuard(pub String);

impl Drop for CgGuard {
    fn drop(&mut self) {
        remove_cgroup(&self.0);
        let p = Path::new("/sys/fs/cgroup").join(self.0.trim_start_matches('/'));
        if is_v2() && p.exists() {
            for _ in 0..50 {
                if fs::remove_dir(&p).is_ok() || !p.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A busybox bundle with a test cgroup path and `resources` as linux.resources.
pub fn bundle_with(id: &str, script: &str, resources: Value) -> (Bundle, CgGuard) {
    let mut b = Bundle::busybox();
    let cg = test_cgroups_path(id);
    b.set_cgroups_path(&cg);
    b.set_args(&["sh", "-c", script]);
    b.config["linux"]["resources"] = resources;
    b.save();
    (b, CgGuard(cg))
}

pub fn default_resources() -> Value {
    serde_json::json!({
        "memory": {"limit": 104857600},
        "pids": {"limit": 50},
        "cpu": {"shares": 1024}
    })
}

#[track_caller]
pub fn update_ok(rt: &Runtime, id: &str, args: &[&str]) {
    let mut a = vec!["update"];
    a.extend_from_slice(args);
    a.push(id);
    let o = rt.run(&a);
    assert_ok(&o, &format!("update {args:?}"));
}

/// Runs the runtime with `input` on stdin (stdout/stderr captured through files).
pub fn run_with_stdin(rt: &Runtime, args: &[&str], input: &[u8]) -> Output {
    let dir = TempDir::new("upd-io");
    let out_p = dir.path().join("out");
    let err_p = dir.path().join("err");
    let mut cmd = rt.cmd(args);
    cmd.stdin(Stdio::piped())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(fs::File::create(&err_p).unwrap());
    let mut child = cmd.spawn().expect("spawn runtime");
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
    }
    let status = wait_child(&mut child, T, &format!("{args:?}"));
    Output {
        status,
        stdout: fs::read(&out_p).unwrap_or_default(),
        stderr: fs::read(&err_p).unwrap_or_default(),
    }
}

pub fn running<'a>(rt: &'a Runtime, b: &'a Bundle, id: &str) -> Container<'a> {
    let c = Container::started(rt, b, id);
    c.wait_status("running", T);
    c
}

/// stderr with the text log format's quoting undone (msg="... \\"x\\" ...").
pub fn err_text(o: &Output) -> String {
    stderr_str(o).replace("\\\"", "\"")
}
