//! Checkpoint and restore driven by real clients with the runtime under test: podman 5
//! (`container checkpoint` / `container restore`, through conmon). Sid root only.

#[allow(dead_code)]
#[path = "../clients/mod.rs"]
mod harness;

use harness::podman::Podman;
use harness::util::{unique, wait_for};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn exec_count(p: &Podman, name: &str) -> Option<u64> {
    let o = p.podman(&["exec", name, "cat", "/count"]);
    (o.code() == 0).then(|| o.out().trim().parse().ok()).flatten()
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn podman_checkpoint_and_restore() {
    let p = Podman::new();
    let img = p.import_busybox();
    let name = unique("crpod");
    p.run(&["-d", "--name", &name, img, "sh", "-c", super::COUNTER]).ok();
    wait_for(WAIT, "the counter to run", || exec_count(&p, &name).filter(|&n| n >= 3));
    p.podman(&["container", "checkpoint", &name]).ok();
    p.wait_state(&name, "exited", WAIT);
    // The container's files are in its overlay upper directory while it is not running.
    let upper = p.inspect(&name, "{{.GraphDriver.Data.UpperDir}}");
    let read = || -> Option<u64> {
        std::fs::read_to_string(std::path::Path::new(&upper).join("count")).ok()?.trim().parse().ok()
    };
    let stopped_at = read().expect("count in the upper dir");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read(), Some(stopped_at), "still counting after checkpoint");
    p.podman(&["container", "restore", &name]).ok();
    p.wait_state(&name, "running", WAIT);
    let first = exec_count(&p, &name).expect("exec in the restored container");
    assert!(first >= stopped_at && first < stopped_at + 50, "restarted? {stopped_at} -> {first}");
    wait_for(WAIT, "the restored counter to go on", || exec_count(&p, &name).filter(|&n| n > first));
    p.podman(&["rm", "--force", "--time", "0", &name]).ok();
}
