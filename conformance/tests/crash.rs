//! Crash consistency: whenever hull itself is SIGKILLed during `create`, a later
//! `delete --force` of that id removes everything it had made: state dir, cgroup and the
//! waiting init.
//!
//! runc 1.3.6 and crun 1.28 bug: their `delete --force` after a killed create exits 0 and
//! removes the state, but leaves the cgroup (every v1 hierarchy when killed during the hooks;
//! one or more when killed early: name=systemd for crun, cpuset for runc, in the runs seen), so
//! both tests fail with them (conformance/peers/).

use hull_conformance::*;
use serde_json::json;
use std::fs;
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// Pids in the container's cgroup (memory hierarchy), if it exists.
fn cgroup_pids(cg: &str) -> Vec<i32> {
    fs::read_to_string(format!("/sys/fs/cgroup/memory{cg}/cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn kill_create_then_force_delete(
    bundle: &Bundle,
    rt: &Runtime,
    id: &str,
    cg: &str,
    wait: impl Fn() -> bool,
) {
    let mut child = rt
        .cmd(&["create", "--bundle", bundle.dir.to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn create");
    wait();
    let leftover_pids = cgroup_pids(cg);
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let o = output_with_timeout(
        &mut rt.cmd(&["delete", "--force", id]),
        Duration::from_secs(30),
    );
    assert_ok(&o, "delete --force after a killed create");
    assert!(
        !rt.state_dir(id).exists(),
        "state dir left after delete --force"
    );
    assert!(
        poll_until(T, || cgroup_leftovers(cg).is_empty()),
        "cgroup left: {:?}",
        cgroup_leftovers(cg)
    );
    for pid in leftover_pids {
        assert!(
            poll_until(T, || !pid_alive(pid)),
            "process {pid} of the killed create is still alive"
        );
    }
}

#[test]
fn killed_while_runtime_hooks_run_leaves_nothing_after_force_delete() {
    // A createRuntime hook holds create at a known point: the init exists, is in its cgroup and
    // waits for the parent. Killing hull there must not leave the init or the cgroup.
    let rt = Runtime::new();
    let id = unique_id("crash-hook");
    let cg = test_cgroups_path(&id);
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    b.set_cgroups_path(&cg);
    b.config["hooks"] =
        json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "sleep 2"]}]});
    b.save();
    kill_create_then_force_delete(&b, &rt, &id, &cg, || {
        poll_until(T, || !cgroup_pids(&cg).is_empty())
    });
}

#[test]
fn killed_at_random_points_of_create_leaves_nothing_after_force_delete() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "1000"]);
    for delay_ms in [0u64, 1, 2, 3, 5, 8, 12, 20] {
        let id = unique_id("crash-rand");
        let cg = test_cgroups_path(&id);
        b.set_cgroups_path(&cg);
        b.save();
        kill_create_then_force_delete(&b, &rt, &id, &cg, || {
            std::thread::sleep(Duration::from_millis(delay_ms));
            true
        });
    }
}
