//! End-to-end tests of the runtime under real clients:
//!
//! * containerd 1.6 (runc shim v2) driven with `ctr run --runc-binary <rt>`,
//!   a private containerd daemon per test;
//! * podman 4 (+ conmon) with `--runtime <rt>` and private storage.
//!
//! The runtime is `$HULL_BIN`, else the newest of
//! `target/{release,debug}/hull`. Validate the tests themselves with
//! `HULL_BIN=/usr/sbin/runc cargo test -p hull-conformance --test clients`.
//!
//! Knobs: `HULL_CLIENTS_TRACE=<file>` logs every runtime argv the clients
//! use (one invocation per line); `HULL_CLIENTS_KEEP=1` keeps temp dirs;
//! `HULL_CLIENTS_VERBOSE=1` prints extra timing.

#[path = "clients/mod.rs"]
mod harness;

use std::fs;
use std::time::Duration;

use harness::checks::{
    check_ctr_metrics_and_ps, check_exec_report, check_lines_and_status, check_missing_binary,
    check_report, podman_top_and_stats, EXEC_REPORT, REPORT,
};
use harness::containerd::Containerd;
use harness::podman::Podman;
use harness::util::{assert_cgroup_value, pid_alive, under_tty, unique, wait_for, Timer};

const WAIT: Duration = Duration::from_secs(20);

/// Bounding set of containerd's default spec (docker's default 14 caps).
const CTR_DEFAULT_CAPS: &str = "00000000a80425fb";
/// Bounding set of podman 4's default spec (11 caps).
const PODMAN_DEFAULT_CAPS: &str = "00000000800405fb";

// ---------------------------------------------------------------- containerd

#[test]
fn containerd_run_output_and_exit_status() {
    let _t = Timer::new("containerd_run_output_and_exit_status");
    let c = Containerd::start();
    let img = c.import_busybox();

    let id = unique("run");
    check_report(c.run(&["--rm", img, &id, "sh", "-c", REPORT]));
    c.assert_gone(&id);

    // A plain successful run, image default command replaced by `true`.
    let id2 = unique("run");
    c.run(&["--rm", img, &id2, "true"]).expect_code(0);
    c.assert_gone(&id2);

    // A command that does not exist must fail (non-zero), not hang, and
    // leave nothing behind.
    let id3 = unique("run");
    // The shim surfaces the runtime's error (read from its --log JSON file).
    check_missing_binary(&c.run(&["--rm", img, &id3, "/no/such/binary"]), None);
    // ctr may leave the container record when task creation fails.
    let _ = c.ctr(&["containers", "delete", &id3]);
    c.assert_gone(&id3);
}

#[test]
fn containerd_run_spec_options() {
    let _t = Timer::new("containerd_run_spec_options");
    let c = Containerd::start();
    let img = c.import_busybox();
    let share = c.dir().join("share");
    fs::create_dir_all(&share).unwrap();
    fs::write(share.join("hello"), "from-host\n").unwrap();

    let id = unique("spec");
    let mount = format!(
        "type=bind,src={},dst=/share,options=rbind:ro",
        share.display()
    );
    let script = r#"
        echo foo=$FOO
        echo cwd=$(pwd)
        cat /share/hello
        if touch /x 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi
        if touch /share/y 2>/dev/null; then echo share=rw; else echo share=ro; fi
        grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status
        echo cgroup=$(grep -E '(^|:)pids:|^0::' /proc/self/cgroup | head -n1)
        ls /dev/null /dev/zero /dev/urandom /dev/tty /dev/pts/ptmx >/dev/null && echo devs=ok
        echo x > /dev/null && echo devnull=ok
    "#;
    let o = c
        .run(&[
            "--rm",
            "--env",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "--read-only",
            "--mount",
            &mount,
            img,
            &id,
            "sh",
            "-c",
            script,
        ])
        .expect_code(0);
    let out = o.lines();
    let d = o.describe();
    check_lines_and_status(
        &out,
        &d,
        &[
            "foo=bar",
            "cwd=/tmp",
            "from-host",
            "rootfs=ro",
            "share=ro",
            "devs=ok",
            "devnull=ok",
        ],
        &[
            ("CapBnd", CTR_DEFAULT_CAPS),
            ("CapEff", CTR_DEFAULT_CAPS),
            ("NoNewPrivs", "1"),
        ],
    );
    let cg = out
        .iter()
        .find(|l| l.starts_with("cgroup="))
        .cloned()
        .unwrap_or_default();
    assert!(
        cg.ends_with(&format!("/{}/{}", c.ns, id)),
        "container not in cgroup /<ns>/<id>: {cg}\n{d}"
    );
    assert!(
        !share.join("y").exists(),
        "read-only bind mount was writable"
    );
    c.assert_gone(&id);
}

#[test]
fn containerd_exec_ps_kill() {
    let _t = Timer::new("containerd_exec_ps_kill");
    let c = Containerd::start();
    let img = c.import_busybox();
    let id = unique("exec");

    // Foreground `ctr run` in the background: its exit status is the task's.
    let main = c.spawn(c.run_cmd(&[
        "--rm",
        img,
        &id,
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done",
    ]));
    let task = c.wait_task_status(&id, "RUNNING", WAIT);
    assert!(
        task.pid > 0 && pid_alive(task.pid),
        "task pid {} not alive",
        task.pid
    );

    // exec: output, exit status, same pid namespace as the init process.
    check_exec_report(c.task_exec(&id, "e1", EXEC_REPORT), "sh -c trap");
    // A second exec with the same id after the first finished works too.
    c.task_exec(&id, "e1", &["true"]).expect_code(0);

    // `ctr task ps` goes through the runtime's `ps --format json`.
    let o = c.ctr(&["task", "ps", &id]).ok();
    assert!(
        o.stdout
            .split_whitespace()
            .any(|w| w == task.pid.to_string()),
        "task ps does not list init pid {}\n{}",
        task.pid,
        o.describe()
    );

    // SIGTERM (ctr's default): the trap runs and the task exits 7.
    c.ctr(&["task", "kill", &id]).ok();
    let o = main.wait(WAIT).expect_code(7);
    let lines = o.lines();
    assert_eq!(lines, ["ready", "got-term"], "{}", o.describe());
    wait_for(WAIT, "init process to disappear", || {
        (!pid_alive(task.pid)).then_some(())
    });
    c.assert_gone(&id);
}

#[test]
fn containerd_detached_pause_resume_sigkill() {
    let _t = Timer::new("containerd_detached_pause_resume_sigkill");
    let c = Containerd::start();
    let img = c.import_busybox();
    let id = unique("det");

    c.run(&[
        "-d",
        "--memory-limit",
        "67108864",
        "--cpus",
        "0.5",
        img,
        &id,
        "sleep",
        "1000",
    ])
    .ok();
    let task = c.wait_task_status(&id, "RUNNING", WAIT);
    // Resource limits from the spec landed in the container's cgroup.
    let rel = c.cgroup_rel(&id);
    assert_cgroup_value(
        &rel,
        "memory",
        ("memory.limit_in_bytes", "67108864"),
        ("memory.max", "67108864"),
    );
    assert_cgroup_value(
        &rel,
        "cpu",
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.max", "50000 100000"),
    );
    let procs = fs::read_to_string(format!("/sys/fs/cgroup/pids/{rel}/cgroup.procs"))
        .or_else(|_| fs::read_to_string(format!("/sys/fs/cgroup/{rel}/cgroup.procs")))
        .unwrap_or_default();
    assert!(
        procs.lines().any(|l| l.trim() == task.pid.to_string()),
        "init pid {} not in cgroup {rel}: {procs:?}",
        task.pid
    );

    c.ctr(&["task", "pause", &id]).ok();
    c.wait_task_status(&id, "PAUSED", WAIT);
    let freezer = format!("/sys/fs/cgroup/freezer/{}/{}/freezer.state", c.ns, id);
    if let Ok(s) = fs::read_to_string(&freezer) {
        assert_eq!(s.trim(), "FROZEN", "{freezer}");
    }
    c.ctr(&["task", "resume", &id]).ok();
    c.wait_task_status(&id, "RUNNING", WAIT);
    if let Ok(s) = fs::read_to_string(&freezer) {
        assert_eq!(s.trim(), "THAWED", "{freezer}");
    }

    c.ctr(&["task", "kill", "-s", "SIGKILL", &id]).ok();
    c.wait_task_status(&id, "STOPPED", WAIT);
    assert!(!pid_alive(task.pid), "pid {} survived SIGKILL", task.pid);
    // ctr reports the exit status of a deleted task only as a warning.
    let o = c.ctr(&["task", "delete", &id]).ok();
    assert!(
        o.stderr.contains("exit code 137"),
        "expected exit status 137 (SIGKILL)\n{}",
        o.describe()
    );
    c.ctr(&["containers", "delete", &id]).ok();
    c.assert_gone(&id);
}

/// Removes a test-owned cgroup subtree (all hierarchies) on drop, even when the test fails.
struct CgroupTreeGuard(String);

impl Drop for CgroupTreeGuard {
    fn drop(&mut self) {
        harness::util::destroy_cgroup_tree(&self.0);
    }
}

#[test]
fn containerd_cgroup_path_metrics_ps() {
    let _t = Timer::new("containerd_cgroup_path_metrics_ps");
    let c = Containerd::start();
    let img = c.import_busybox();
    let id = unique("cg");
    let parent = unique("hull-ctr-cg");
    let _guard = CgroupTreeGuard(parent.clone());
    let cgroup = format!("/{parent}/{id}");

    c.run(&[
        "-d",
        "--cgroup",
        &cgroup,
        "--memory-limit",
        "100663296",
        img,
        &id,
        "sh",
        "-c",
        "sleep 1000 & sleep 1001 & wait",
    ])
    .ok();
    let task = c.wait_task_status(&id, "RUNNING", WAIT);
    // `--cgroup` is linux.cgroupsPath: the container lives exactly there.
    let rel = format!("{parent}/{id}");
    assert_cgroup_value(
        &rel,
        "memory",
        ("memory.limit_in_bytes", "100663296"),
        ("memory.max", "100663296"),
    );

    // The shim reads metrics from the cgroup of the init pid: they must be the container's.
    check_ctr_metrics_and_ps(&c, &id, task.pid, 100663296, WAIT);

    c.ctr(&["task", "kill", "-s", "SIGKILL", &id]).ok();
    c.wait_task_status(&id, "STOPPED", WAIT);
    c.ctr(&["task", "delete", &id]).ok();
    c.ctr(&["containers", "delete", &id]).ok();
    c.assert_gone(&id);
    // delete removed the container's cgroup in every hierarchy (the parent is ours).
    let left = harness::util::cgroup_dirs(&rel);
    assert!(left.is_empty(), "cgroup left after delete: {left:?}");
}

#[test]
fn containerd_tty_run_and_exec() {
    let _t = Timer::new("containerd_tty_run_and_exec");
    let c = Containerd::start();
    let img = c.import_busybox();

    let id = unique("tty");
    let o = c
        .exec(under_tty(&c.run_cmd(&[
            "--rm",
            "-t",
            img,
            &id,
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo isatty; exit 4",
        ])))
        .expect_code(4);
    let lines = o.lines();
    assert!(
        lines.iter().any(|l| l.contains("/dev/pts/")),
        "no pty\n{}",
        o.describe()
    );
    assert!(lines.iter().any(|l| l == "isatty"), "{}", o.describe());
    c.assert_gone(&id);

    // exec -t into a detached (non-tty) task.
    let id = unique("tty");
    c.run(&["-d", img, &id, "sleep", "1000"]).ok();
    c.wait_task_status(&id, "RUNNING", WAIT);
    let fifo = c.fifo_dir.to_string_lossy().into_owned();
    let o = c
        .exec(under_tty(&c.ctr_cmd(&[
            "task",
            "exec",
            "-t",
            "--fifo-dir",
            &fifo,
            "--exec-id",
            "t1",
            &id,
            "sh",
            "-c",
            "tty; exit 9",
        ])))
        .expect_code(9);
    assert!(
        o.lines().iter().any(|l| l.contains("/dev/pts/")),
        "no pty in exec\n{}",
        o.describe()
    );
    // Force delete kills the running task.
    c.ctr(&["task", "delete", "--force", &id]).ok();
    c.ctr(&["containers", "delete", &id]).ok();
    c.assert_gone(&id);
}

// -------------------------------------------------------------------- podman

#[test]
fn podman_run_rm_output_and_exit_status() {
    let _t = Timer::new("podman_run_rm_output_and_exit_status");
    let p = Podman::new();
    let img = p.import_busybox();

    check_report(p.run(&["--rm", img, "sh", "-c", REPORT]));
    p.run(&["--rm", img, "true"]).expect_code(0);
    // Image default command (sh) with stdin at EOF exits 0.
    p.run(&["--rm", img]).expect_code(0);
    // podman maps the runtime's "no such file or directory" exec error to
    // exit status 127 (it parses the runtime's error text).
    check_missing_binary(&p.run(&["--rm", img, "/no/such/binary"]), Some(127));
    assert!(p.all_containers().is_empty(), "--rm left containers behind");
}

#[test]
fn podman_run_spec_options() {
    let _t = Timer::new("podman_run_spec_options");
    let p = Podman::new();
    let img = p.import_busybox();
    let share = p.dir().join("share");
    fs::create_dir_all(&share).unwrap();
    fs::write(share.join("hello"), "from-host\n").unwrap();
    let vol = format!("{}:/share:ro", share.display());
    let name = unique("spec");
    let script = r#"
        echo foo=$FOO
        echo cwd=$(pwd)
        echo host=$(hostname)
        echo uid=$(id -u) gid=$(id -g)
        cat /share/hello
        if touch /x 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi
        if touch /share/y 2>/dev/null; then echo share=rw; else echo share=ro; fi
        grep -E '^(CapBnd|Seccomp):' /proc/self/status
        echo nofile=$(ulimit -n)
        ls /dev/null /dev/zero /dev/urandom /dev/tty /dev/pts/ptmx >/dev/null && echo devs=ok
        echo x > /dev/null && echo devnull=ok
    "#;
    let o = p
        .run(&[
            "--rm",
            "--name",
            &name,
            "-e",
            "FOO=bar",
            "--workdir",
            "/tmp",
            "--hostname",
            "hulltest",
            "--user",
            "65534:65534",
            "--read-only",
            "-v",
            &vol,
            img,
            "sh",
            "-c",
            script,
        ])
        .expect_code(0);
    let out = o.lines();
    let d = o.describe();
    // podman's default seccomp profile must be in force (Seccomp 2: filter mode).
    check_lines_and_status(
        &out,
        &d,
        &[
            "foo=bar",
            "cwd=/tmp",
            "host=hulltest",
            "uid=65534 gid=65534",
            "from-host",
            "rootfs=ro",
            "share=ro",
            "nofile=1024",
            "devs=ok",
            "devnull=ok",
        ],
        &[("CapBnd", PODMAN_DEFAULT_CAPS), ("Seccomp", "2")],
    );
    assert!(!share.join("y").exists(), "read-only volume was writable");
    assert!(p.all_containers().is_empty(), "--rm left containers behind");
}

#[test]
fn podman_detach_exec_stop_rm() {
    let _t = Timer::new("podman_detach_exec_stop_rm");
    let p = Podman::new();
    let img = p.import_busybox();
    let name = unique("det");

    let o = p
        .run(&[
            "-d",
            "--name",
            &name,
            img,
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 0.1; done",
        ])
        .ok();
    let id = o.out();
    assert!(
        id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "run -d did not print an id\n{}",
        o.describe()
    );
    p.wait_state(&name, "running", WAIT);
    let pid: i32 = p.inspect(&name, "{{.State.Pid}}").parse().unwrap_or(0);
    assert!(pid > 0 && pid_alive(pid), "container pid {pid} not alive");

    let mut exec = vec!["exec", name.as_str()];
    exec.extend_from_slice(EXEC_REPORT);
    check_exec_report(p.podman(&exec), "sh -c trap");
    // A missing binary in exec: podman maps the runtime error to 127.
    check_missing_binary(&p.podman(&["exec", &name, "/no/such/binary"]), Some(127));
    // exec with a terminal (conmon passes --tty --console-socket).
    let o = p.podman(&["exec", "-t", &name, "sh", "-c", "tty"]).ok();
    assert!(o.out().contains("/dev/pts/"), "{}", o.describe());
    // exec as another user, with env and workdir.
    let o = p
        .podman(&[
            "exec",
            "--user",
            "65534",
            "-e",
            "X=y",
            "--workdir",
            "/tmp",
            &name,
            "sh",
            "-c",
            "echo $(id -u) $X $(pwd)",
        ])
        .ok();
    assert_eq!(o.out(), "65534 y /tmp", "{}", o.describe());

    p.podman(&["stop", "--time", "10", &name]).ok();
    assert_eq!(p.inspect(&name, "{{.State.Status}}"), "exited");
    assert_eq!(p.inspect(&name, "{{.State.ExitCode}}"), "0");
    assert!(!pid_alive(pid), "pid {pid} survived stop");
    p.podman(&["rm", &name]).ok();
    p.assert_gone(&id);
}

#[test]
fn podman_pause_unpause_kill() {
    let _t = Timer::new("podman_pause_unpause_kill");
    let p = Podman::new();
    let img = p.import_busybox();
    let name = unique("pause");

    let id = p
        .run(&[
            "-d",
            "--name",
            &name,
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "100",
            img,
            "sleep",
            "1000",
        ])
        .ok()
        .out();
    p.wait_state(&name, "running", WAIT);
    let rel = format!("{}/libpod-{id}", p.cgroup_parent);
    assert_cgroup_value(
        &rel,
        "memory",
        ("memory.limit_in_bytes", "67108864"),
        ("memory.max", "67108864"),
    );
    assert_cgroup_value(
        &rel,
        "cpu",
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.max", "50000 100000"),
    );
    assert_cgroup_value(&rel, "pids", ("pids.max", "100"), ("pids.max", "100"));
    p.podman(&["pause", &name]).ok();
    assert_eq!(p.inspect(&name, "{{.State.Status}}"), "paused");
    p.podman(&["unpause", &name]).ok();
    assert_eq!(p.inspect(&name, "{{.State.Status}}"), "running");
    // exec works after unpause.
    let o = p.podman(&["exec", &name, "echo", "alive"]).ok();
    assert_eq!(o.out(), "alive");

    // `sleep` as pid 1 ignores SIGTERM: stop escalates to SIGKILL (137).
    let name2 = unique("stop");
    p.run(&["-d", "--name", &name2, img, "sleep", "1000"]).ok();
    p.wait_state(&name2, "running", WAIT);
    p.podman(&["stop", "--time", "1", &name2]).ok();
    assert_eq!(p.inspect(&name2, "{{.State.ExitCode}}"), "137");
    p.podman(&["rm", &name2]).ok();

    p.podman(&["kill", "--signal", "KILL", &name]).ok();
    let o = p.podman(&["wait", &name]).ok();
    assert_eq!(o.out(), "137", "{}", o.describe());
    p.podman(&["rm", &name]).ok();
    p.assert_gone(&id);
}

#[test]
fn podman_run_tty() {
    let _t = Timer::new("podman_run_tty");
    let p = Podman::new();
    let img = p.import_busybox();
    let o = p
        .exec(under_tty(&p.run_cmd(&[
            "--rm",
            "-t",
            img,
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo isatty; exit 2",
        ])))
        .expect_code(2);
    let lines = o.lines();
    assert!(
        lines.iter().any(|l| l.contains("/dev/pts/")),
        "no pty\n{}",
        o.describe()
    );
    assert!(lines.iter().any(|l| l == "isatty"), "{}", o.describe());
    assert!(p.all_containers().is_empty(), "--rm left containers behind");
}

#[test]
fn podman_top_stats_update() {
    let _t = Timer::new("podman_top_stats_update");
    let p = Podman::new();
    let img = p.import_busybox();
    let (name, id) = podman_top_and_stats(&p, img, WAIT);
    let rel = format!("{}/libpod-{id}", p.cgroup_parent);

    // update: podman hands the new resources to the runtime's `update`.
    p.podman(&["update", "--memory", "96m", "--cpus", "0.5", &name])
        .ok();
    assert_cgroup_value(
        &rel,
        "memory",
        ("memory.limit_in_bytes", "100663296"),
        ("memory.max", "100663296"),
    );
    assert_cgroup_value(
        &rel,
        "cpu",
        ("cpu.cfs_quota_us", "50000"),
        ("cpu.max", "50000 100000"),
    );
    // the limit podman did not touch is still there
    assert_cgroup_value(&rel, "pids", ("pids.max", "50"), ("pids.max", "50"));

    p.podman(&["rm", "--force", "--time", "0", &name]).ok();
    p.assert_gone(&id);
}
