//! The user kills `create` midway (in a hook, in a delegated cgroup, at random points):
//! `delete --force` leaves nothing behind.

use super::*;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

/// The user SIGKILLs `create` while a createRuntime hook holds it (the init exists and
/// waits for the runtime), then `delete --force` leaves nothing: no state, no process, no
/// cgroup, no mount.
#[test]
fn killed_create_leaves_nothing_after_force_delete() {
    let u = TestUser::new(false);
    let mut b = u.bundle("b", &["sleep", "1000"]);
    let marker = u.home.join("hook-state");
    let hook = format!(
        "cat > {m}.tmp; mv {m}.tmp {m}; exec sleep 1000",
        m = marker.display()
    );
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]});
    u.save(&b);
    let id = unique_id("rl-kill");
    let mut child = u
        .rt(&["create", "--bundle", b.dir_str(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn create");
    assert!(poll_until(t(20), || marker.exists()), "the hook never ran");
    let hook_state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&marker).unwrap()).unwrap();
    let init = hook_state["pid"].as_i64().unwrap() as i32;
    assert!(pid_alive(init), "the init must exist when create is killed");
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let o = u.run(&["delete", "--force", &id]);
    assert_ok(&o, "delete --force after a killed create");
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || !pid_alive(init)),
        "init {init} still alive"
    );
    // The hook's sleep is the test's own leftover (runc leaves it too): only it may remain.
    let left: Vec<i32> = u.processes();
    for pid in &left {
        let cmd = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            cmd.starts_with("sleep\0"),
            "process {pid} ({cmd:?}) left behind"
        );
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    for d in default_cgroup_dirs_of(&id) {
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(b.dir_str()),
        "a mount of the bundle is left on the host"
    );
}

/// The same with a delegated cgroup: the init is in it when create is killed, and
/// `delete --force` removes the cgroup too. Fails with runc 1.1.5 and 1.3.6 by design: killed
/// before it wrote its state, runc's `delete --force` finds nothing and leaves the (empty)
/// cgroup behind; hull records its state before it makes the cgroup. crun 1.28 makes no
/// cgroup at all for an unprivileged user's container on cgroup v1 (a crun bug, see
/// cgroups::a_delegated_cgroup_is_used).
#[test]
fn killed_create_in_a_delegated_cgroup_leaves_nothing() {
    let u = TestUser::new(false);
    let delegated = delegate_pids_cgroup(&u);
    let mut b = u.bundle("b", &["sleep", "1000"]);
    let marker = u.home.join("hook-state");
    let hook = format!(
        "cat > {m}.tmp; mv {m}.tmp {m}; exec sleep 1000",
        m = marker.display()
    );
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", hook]}]});
    b.config["linux"]["resources"] = json!({"pids": {"limit": 30}});
    u.save(&b);
    let id = unique_id("rl-kill-cg");
    let mut child = u
        .rt(&["create", "--bundle", b.dir_str(), &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn create");
    assert!(poll_until(t(20), || marker.exists()), "the hook never ran");
    let hook_state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&marker).unwrap()).unwrap();
    let init = hook_state["pid"].as_i64().unwrap();
    let cg = delegated.join(&id);
    let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
    assert!(
        procs.lines().any(|l| l.trim() == init.to_string()),
        "init {init} not in {}: {procs}",
        cg.display()
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    assert_ok(
        &u.run(&["delete", "--force", &id]),
        "delete --force after a killed create",
    );
    assert_no_state(&u, &id);
    assert!(
        poll_until(t(10), || !pid_alive(init as i32)),
        "init {init} still alive"
    );
    assert!(
        poll_until(t(10), || !cg.exists()),
        "cgroup {} left behind",
        cg.display()
    );
}

/// The same at arbitrary points of create: whatever was made, `delete --force` removes it
/// and no process of the user remains.
#[test]
fn killed_at_random_points_of_create_leaves_nothing() {
    let u = TestUser::new(false);
    let b = u.bundle("b", &["sleep", "1000"]);
    for delay_ms in [0u64, 2, 5, 10, 20, 40] {
        let id = unique_id("rl-krand");
        let mut child = u
            .rt(&["create", "--bundle", b.dir_str(), &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn create");
        std::thread::sleep(Duration::from_millis(delay_ms));
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        let o = u.run(&["delete", "--force", &id]);
        assert!(
            o.status.success() || err(&o).contains("does not exist"),
            "delete --force after a kill at {delay_ms}ms: {}",
            err(&o)
        );
        assert!(
            !u.default_root().join(&id).exists(),
            "state left ({delay_ms}ms)"
        );
        assert!(
            poll_until(t(10), || u.processes().is_empty()),
            "processes left after a kill at {delay_ms}ms: {:?}",
            u.processes()
        );
    }
}
