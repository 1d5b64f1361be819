//! containerd 2.1 driven with `ctr` (runc shim v2 with `--runc-binary <runtime>`): a private
//! daemon per test from a `version = 3` config, the CRI plugin off. The daemon guard is the
//! Debian 12 harness's (`Containerd::start_with`); only the config differs.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::containerd::{Containerd, Setup};
use crate::harness::image;
use crate::harness::util::{cgroup_dirs, pid_alive, run_cmd, unique, wait_for, Timer};

use super::WAIT;

/// Plugins a ctr-only daemon does not load: CRI (tested in `cri`), NRI (its socket is
/// machine-wide), snapshotters and tracing that need what this root has not.
const CTR_DISABLED_PLUGINS: &str = r#"
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime",
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
"#;

/// The part of a containerd 2 config every daemon here shares: private root, state, sockets.
pub fn config_v3_base(d: &Path, disabled_plugins: &str) -> String {
    format!(
        r#"version = 3
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [{disabled_plugins}]

[grpc]
  address = "{d}/c.sock"

[ttrpc]
  address = "{d}/c.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"

[plugins.'io.containerd.internal.v1.opt']
  path = "{d}/opt"
"#,
        d = d.display()
    )
}

fn config_ctr(d: &Path, _runtime: &Path) -> String {
    config_v3_base(d, CTR_DISABLED_PLUGINS)
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
    let o = c
        .run(&[
            "--rm",
            img,
            &id,
            "sh",
            "-c",
            "echo hello; echo oops >&2; echo pid=$$; exit 3",
        ])
        .expect_code(3);
    assert_eq!(o.lines(), ["hello", "pid=1"], "{}", o.describe());
    assert!(o.stderr.contains("oops"), "stderr lost\n{}", o.describe());
    c.assert_gone(&id);

    // A missing binary fails the run with the runtime's error, and leaves nothing.
    let id = unique("run");
    let o = c.run(&["--rm", img, &id, "/no/such/binary"]);
    assert_ne!(o.code(), 0, "{}", o.describe());
    assert!(o.stderr.contains("/no/such/binary"), "{}", o.describe());
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
    let fifo = c.fifo_dir.to_string_lossy().into_owned();
    let o = c
        .ctr(&[
            "task",
            "exec",
            "--fifo-dir",
            &fifo,
            "--exec-id",
            "e1",
            &id,
            "sh",
            "-c",
            "echo inexec; tr '\\0' ' ' < /proc/1/cmdline; echo; exit 5",
        ])
        .expect_code(5);
    let lines = o.lines();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("inexec"),
        "{}",
        o.describe()
    );
    assert!(
        lines.iter().any(|l| l.starts_with("sh -c sleep 1000")),
        "exec does not see the container's pid 1\n{}",
        o.describe()
    );

    // metrics: the shim reads the container's cgroup.
    let m = wait_for(WAIT, "metrics with the three processes", || {
        let o = c.ctr(&["task", "metrics", "--format", "json", &id]).ok();
        let m: serde_json::Value = serde_json::from_str(&o.stdout)
            .unwrap_or_else(|e| panic!("metrics are not JSON: {e}\n{}", o.describe()));
        (m.pointer("/pids/current").and_then(|v| v.as_u64()) == Some(3)).then_some(m)
    });
    let limit = m
        .pointer("/memory/usage/limit")
        .or_else(|| m.pointer("/memory/usage_limit"))
        .and_then(|v| v.as_u64());
    assert_eq!(limit, Some(67108864), "memory limit in metrics: {m}");

    // ps goes through the runtime's `ps --format json`.
    let o = c.ctr(&["task", "ps", &id]).ok();
    let pids: Vec<i32> = o
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 3, "task ps: {}", o.describe());

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
    c.ctr(&[
        "task",
        "exec",
        "--fifo-dir",
        &fifo,
        "--exec-id",
        "e2",
        &id,
        "true",
    ])
    .ok();

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
