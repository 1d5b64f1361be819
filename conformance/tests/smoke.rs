//! Smoke test of the harness itself.
use hull_conformance::*;
use std::time::Duration;

#[test]
fn harness_run_and_lifecycle() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let (code, out, err) = run_container(&rt, &mut b, &["sh", "-c", "echo hello; exit 3"]);
    assert_eq!(code, 3, "stderr: {err}");
    assert_eq!(out, "hello\n");

    b.set_args(&["sleep", "100"]);
    let id = unique_id("smoke");
    b.set_cgroups_path(&test_cgroups_path(&id));
    b.save();
    let c = Container::with_id(&rt, &b, &id);
    c.create();
    assert_eq!(c.state()["status"], "created");
    c.start();
    c.wait_status("running", Duration::from_secs(5));
    assert!(!cgroup_leftovers(&test_cgroups_path(&id)).is_empty());
    c.kill("KILL");
    c.wait_status("stopped", Duration::from_secs(5));
    c.delete();
    assert_no_state(&rt, &id);
    assert_no_cgroup(&test_cgroups_path(&id));
}
