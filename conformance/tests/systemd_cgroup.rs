//! `--systemd-cgroup` on a host where systemd is not PID 1: a clear error, exit 1 and nothing
//! left behind (no state dir, no cgroup, no process). The driver itself is tested for real in a
//! VM with systemd as PID 1: conformance/vm/systemd/run.sh.

use hull_conformance::*;
use std::path::Path;

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

#[track_caller]
fn assert_clear_error(rt: &Runtime, id: &str, o: &std::process::Output, what: &str) {
    assert_fail1(o, what);
    let err = stderr_str(o);
    // runc's words; crun 1.28 says "cannot open sd-bus: No such file or directory".
    let words = if is_crun() {
        "cannot open sd-bus"
    } else {
        "systemd not running on this host, cannot use systemd cgroups manager"
    };
    assert!(err.contains(words), "{what}: unexpected error {err:?}");
    assert!(!err.to_lowercase().contains("panic"), "{what}: {err:?}");
    assert_no_state(rt, id);
    assert!(
        default_cgroup_leftovers(id).is_empty(),
        "{what}: cgroup left: {:?}",
        default_cgroup_leftovers(id)
    );
}

#[test]
fn systemd_cgroup_without_systemd_is_a_clear_error() {
    if systemd_running() {
        eprintln!(
            "skipped: systemd runs on this host (see conformance/vm/systemd for the driver test)"
        );
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "100"]);
    b.save();

    // No cgroupsPath (the driver's default "system.slice:hull:<id>").
    let id = unique_id("sd");
    let o = rt.run(&["--systemd-cgroup", "create", "--bundle", b.dir_str(), &id]);
    assert_clear_error(&rt, &id, &o, "create --systemd-cgroup");

    // A systemd-style cgroupsPath, with run.
    b.set_cgroups_path("system.slice:hulltest:x");
    b.save();
    let id = unique_id("sd");
    let o = rt.run(&["--systemd-cgroup", "run", "--bundle", b.dir_str(), &id]);
    assert_clear_error(&rt, &id, &o, "run --systemd-cgroup");
}

#[test]
fn features_reports_systemd_driver() {
    let rt = Runtime::new();
    let o = rt.run_ok(&["features"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("features JSON");
    assert_eq!(
        v["linux"]["cgroup"]["systemd"],
        true,
        "features: {}",
        stdout_str(&o)
    );
}
