//! Checkpoint and restore driven by real clients with the runtime under test: podman 5
//! (`container checkpoint` / `container restore`, through conmon) and containerd 2 (`ctr`).
//! Sid root only.

#[path = "../clients/mod.rs"]
mod harness;

use harness::containerd::Containerd;
use harness::podman::Podman;
use harness::util::{unique, wait_for};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn exec_count(p: &Podman, name: &str) -> Option<u64> {
    let o = p.podman(&["exec", name, "cat", "/count"]);
    (o.code() == 0)
        .then(|| super::last_number(&o.out()))
        .flatten()
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn podman_checkpoint_and_restore() {
    let p = Podman::new();
    let img = p.import_busybox();
    let name = unique("crpod");
    p.run(&["-d", "--name", &name, img, "sh", "-c", super::COUNTER])
        .ok();
    wait_for(WAIT, "the counter to run", || {
        exec_count(&p, &name).filter(|&n| n >= 3)
    });
    p.podman(&["container", "checkpoint", &name]).ok();
    p.wait_state(&name, "exited", WAIT);
    // The container's files are in its overlay upper directory while it is not running.
    let upper = p.inspect(&name, "{{.GraphDriver.Data.UpperDir}}");
    let read = || -> Option<u64> {
        super::last_number(
            &std::fs::read_to_string(std::path::Path::new(&upper).join("count")).ok()?,
        )
    };
    let stopped_at = read().expect("count in the upper dir");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read(), Some(stopped_at), "still counting after checkpoint");
    p.podman(&["container", "restore", &name]).ok();
    p.wait_state(&name, "running", WAIT);
    let first = exec_count(&p, &name).expect("exec in the restored container");
    assert!(
        first >= stopped_at && first < stopped_at + 50,
        "restarted? {stopped_at} -> {first}"
    );
    wait_for(WAIT, "the restored counter to go on", || {
        exec_count(&p, &name).filter(|&n| n > first)
    });
    p.podman(&["rm", "--force", "--time", "0", &name]).ok();
}

fn ctr_count(c: &Containerd, id: &str) -> Option<u64> {
    let o = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        &unique("x"),
        id,
        "cat",
        "/count",
    ]);
    (o.code() == 0)
        .then(|| super::last_number(&o.out()))
        .flatten()
}

/// containerd 2: `ctr task checkpoint --exit` dumps the task (through the runc shim, with
/// the runtime under test) into a checkpoint image; `ctr container checkpoint --task` and
/// `ctr container restore --live` take a container with its task to a new one and back.
#[test]
#[ignore = "needs the sid root: make test-sid"]
fn containerd_task_checkpoint_and_restore() {
    let c = Containerd::start();
    let img = c.import_busybox();
    let id = unique("crctd");
    c.run(&["-d", img, &id, "sh", "-c", super::COUNTER]).ok();
    wait_for(WAIT, "the counter to run", || {
        ctr_count(&c, &id).filter(|&n| n >= 3)
    });
    let o = c.ctr(&["task", "checkpoint", "--exit", &id]).ok();
    let reference = o.out().trim().to_string();
    assert!(
        reference.starts_with("containerd.io/checkpoint/"),
        "{}",
        o.describe()
    );
    assert!(c
        .ctr(&["image", "ls", "-q"])
        .ok()
        .out()
        .contains(&reference));
    c.wait_task_status(&id, "STOPPED", WAIT);
    let _ = c.ctr(&["task", "delete", &id]);
    c.ctr(&["container", "delete", &id]).ok();

    let id2 = unique("crctd");
    c.run(&["-d", img, &id2, "sh", "-c", super::COUNTER]).ok();
    wait_for(WAIT, "the second counter to run", || {
        ctr_count(&c, &id2).filter(|&n| n >= 10)
    });
    let before = ctr_count(&c, &id2).expect("count before the checkpoint");
    let ref2 = format!("hull.test/checkpoint:{id2}");
    c.ctr(&["container", "checkpoint", "--task", "--rw", &id2, &ref2])
        .ok();
    let _ = c.ctr(&["task", "kill", "-s", "KILL", &id2]);
    c.wait_task_status(&id2, "STOPPED", WAIT);
    let _ = c.ctr(&["task", "delete", &id2]);
    c.ctr(&["container", "delete", &id2]).ok();
    c.ctr(&["container", "restore", "--live", "--rw", &id2, &ref2])
        .ok();
    let first = wait_for(WAIT, "the restored task", || ctr_count(&c, &id2));
    assert!(
        first >= before,
        "restarted instead of restored: {before} -> {first}"
    );
    wait_for(WAIT, "the restored counter to go on", || {
        ctr_count(&c, &id2).filter(|&n| n > first)
    });
    let _ = c.ctr(&["task", "kill", "-s", "KILL", &id2]);
}
