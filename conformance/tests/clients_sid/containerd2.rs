//! containerd 2.1 driven with `ctr` (runc shim v2 with `--runc-binary <runtime>`): a private
//! daemon per test from a `version = 3` config, the CRI plugin off. The daemon guard is the
//! Debian 12 harness's (`Containerd::start_with`); only the config differs.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::checks::{
    check_ctr_metrics_and_ps, check_exec_report, check_missing_binary, check_report, EXEC_REPORT,
    REPORT,
};
use crate::harness::containerd::{config_base, Containerd, Setup};
use crate::harness::image;
use crate::harness::util::{cgroup_dirs, pid_alive, run_cmd, unique, Timer};

use super::WAIT;

/// Plugins no daemon here loads: NRI (its socket is machine-wide), snapshotters and tracing
/// that need what this root has not.
pub const DISABLED_PLUGINS: &str = r#"
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
"#;

/// A ctr-only daemon: the CRI plugins off too (they are tested in `cri`).
fn config_ctr(d: &Path, _runtime: &Path) -> String {
    let disabled = format!(
        r#"
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime",{DISABLED_PLUGINS}"#
    );
    config_base(3, d, &disabled)
}

/// A containerd 2 daemon for `ctr`, in a unique namespace.
fn start() -> Containerd {
    Containerd::start_with(&Setup {
        config: &config_ctr,
        namespace: None,
        runtime_root: None,
    })
}

/// The v1 freezer state (hybrid host) or the v2 `cgroup.freeze` of a ctr container.
fn frozen(c: &Containerd, id: &str) -> Option<bool> {
    let rel = c.cgroup_rel(id);
    if let Ok(s) = fs::read_to_string(format!("/sys/fs/cgroup/freezer/{rel}/freezer.state")) {
        return Some(s.trim() == "FROZEN");
    }
    fs::read_to_string(format!("/sys/fs/cgroup/{rel}/cgroup.freeze"))
        .ok()
        .map(|s| s.trim() == "1")
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn containerd2_ctr_run_image_and_rootfs() {
    let _t = Timer::new("containerd2_ctr_run_image_and_rootfs");
    let c = start();
    let img = c.import_busybox();

    let id = unique("run");
    check_report(c.run(&["--rm", img, &id, "sh", "-c", REPORT]));
    c.assert_gone(&id);

    // A missing binary fails the run with the runtime's error, and leaves nothing.
    let id = unique("run");
    check_missing_binary(&c.run(&["--rm", img, &id, "/no/such/binary"]), None);
    let _ = c.ctr(&["containers", "delete", &id]);
    c.assert_gone(&id);

    // `--rootfs`: a plain directory as the container's root, no snapshot. ctr gives such a
    // container no environment at all, so the command is named by its absolute path: with no
    // PATH, runc 1.3.6 fails a bare `sh` ("executable file not found in $PATH") where the
    // runtime-spec asks for execvp's semantics (default search path), which hull follows.
    let rootfs = c.dir().join("rootfs");
    let cp = run_cmd(
        Command::new("cp")
            .arg("-a")
            .arg(&image::busybox().rootfs)
            .arg(&rootfs),
        &c.dir().join("io"),
        WAIT,
    );
    assert_eq!(cp.code(), 0, "{}", cp.describe());
    let id = unique("rootfs");
    let rootfs_arg = rootfs.to_string_lossy().into_owned();
    let o = c
        .run(&[
            "--rm",
            "--rootfs",
            &rootfs_arg,
            &id,
            "/bin/sh",
            "-c",
            "echo from-rootfs > /marker; cat /marker; exit 4",
        ])
        .expect_code(4);
    assert_eq!(o.lines(), ["from-rootfs"], "{}", o.describe());
    assert_eq!(
        fs::read_to_string(rootfs.join("marker")).unwrap_or_default(),
        "from-rootfs\n",
        "the write did not land in the --rootfs directory"
    );
    c.assert_gone(&id);
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn containerd2_ctr_exec_pause_metrics_kill_delete() {
    let _t = Timer::new("containerd2_ctr_exec_pause_metrics_kill_delete");
    let c = start();
    let img = c.import_busybox();
    let id = unique("det");
    c.run(&[
        "-d",
        "--memory-limit",
        "67108864",
        img,
        &id,
        "sh",
        "-c",
        "sleep 1000 & sleep 1001 & wait",
    ])
    .ok();
    let task = c.wait_task_status(&id, "RUNNING", WAIT);
    assert!(pid_alive(task.pid), "task pid {} not alive", task.pid);

    // exec: output, exit status, the container's pid namespace.
    check_exec_report(c.task_exec(&id, "e1", EXEC_REPORT), "sh -c sleep 1000");

    // metrics and ps: the container's cgroup, the runtime's `ps`.
    check_ctr_metrics_and_ps(&c, &id, task.pid, 67108864, WAIT);

    c.ctr(&["task", "pause", &id]).ok();
    c.wait_task_status(&id, "PAUSED", WAIT);
    assert_ne!(
        frozen(&c, &id),
        Some(false),
        "PAUSED but the cgroup is not frozen"
    );
    c.ctr(&["task", "resume", &id]).ok();
    c.wait_task_status(&id, "RUNNING", WAIT);
    assert_ne!(
        frozen(&c, &id),
        Some(true),
        "RUNNING but the cgroup is frozen"
    );
    c.task_exec(&id, "e2", &["true"]).ok();

    c.ctr(&["task", "kill", "-s", "SIGKILL", &id]).ok();
    c.wait_task_status(&id, "STOPPED", WAIT);
    assert!(!pid_alive(task.pid), "pid {} survived SIGKILL", task.pid);
    let o = c.ctr(&["task", "delete", &id]).ok();
    assert!(
        o.stderr.contains("exit code 137") || o.stdout.contains("137"),
        "{}",
        o.describe()
    );
    c.ctr(&["containers", "delete", &id]).ok();
    c.assert_gone(&id);
    assert!(cgroup_dirs(&c.cgroup_rel(&id)).is_empty());
}
