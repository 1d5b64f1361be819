//! podman 5 (+ conmon 2.1, catatonit) with `--runtime <runtime>`: the Debian 12 harness's
//! `Podman` guard (private --root/--runroot/--tmpdir, cgroupfs, file events, k8s-file logs,
//! no network) drives the newer podman unchanged.

use std::time::{Duration, Instant};

use crate::harness::checks::{
    check_exec_report, check_missing_binary, check_report, podman_top_and_stats, EXEC_REPORT,
    REPORT,
};
use crate::harness::podman::Podman;
use crate::harness::util::{
    assert_cgroup_value, pid_alive, status_field, under_tty, unique, wait_for, Timer,
};

use super::WAIT;

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn podman5_run_status_and_restrictions() {
    let _t = Timer::new("podman5_run_status_and_restrictions");
    let p = Podman::new();
    let img = p.import_busybox();

    check_report(p.run(&["--rm", img, "sh", "-c", REPORT]));
    check_missing_binary(&p.run(&["--rm", img, "/no/such/binary"]), Some(127));

    // A locked-down container: read-only rootfs, no capabilities, an unprivileged user, limits.
    let name = unique("locked");
    let script = r#"
        echo uid=$(id -u)
        if touch /x 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi
        if touch /tmp/x 2>/dev/null; then echo tmp=rw; else echo tmp=ro; fi
        grep -E '^(CapEff|CapBnd|CapPrm):' /proc/self/status
        sleep 1000
    "#;
    let id = p
        .run(&[
            "-d",
            "--name",
            &name,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--user",
            "1000",
            "--pids-limit",
            "42",
            "--memory",
            "48m",
            img,
            "sh",
            "-c",
            script,
        ])
        .ok()
        .out();
    p.wait_state(&name, "running", WAIT);
    let rel = format!("{}/libpod-{id}", p.cgroup_parent);
    assert_cgroup_value(&rel, "pids", ("pids.max", "42"), ("pids.max", "42"));
    assert_cgroup_value(
        &rel,
        "memory",
        ("memory.limit_in_bytes", "50331648"),
        ("memory.max", "50331648"),
    );
    let logs = wait_for(WAIT, "the container's report in its log", || {
        let o = p.podman(&["logs", &name]).ok();
        o.stdout.contains("CapPrm").then_some(o.stdout)
    });
    let lines: Vec<&str> = logs.lines().map(str::trim).collect();
    // podman's --read-only keeps /tmp a writable tmpfs (--read-only-tmpfs defaults to true).
    for want in ["uid=1000", "rootfs=ro", "tmp=rw"] {
        assert!(lines.contains(&want), "missing {want:?} in {logs}");
    }
    for cap in ["CapEff", "CapBnd", "CapPrm"] {
        assert_eq!(
            status_field(&logs, cap).as_deref(),
            Some("0000000000000000"),
            "{logs}"
        );
    }
    p.podman(&["rm", "--force", "--time", "0", &name]).ok();
    p.assert_gone(&id);
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn podman5_exec_pause_stop_restart_rm() {
    let _t = Timer::new("podman5_exec_pause_stop_restart_rm");
    let p = Podman::new();
    let img = p.import_busybox();
    let name = unique("det");
    let id = p
        .run(&[
            "-d",
            "--name",
            &name,
            img,
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 0.1; done",
        ])
        .ok()
        .out();
    p.wait_state(&name, "running", WAIT);
    let pid: i32 = p.inspect(&name, "{{.State.Pid}}").parse().unwrap_or(0);
    assert!(pid > 0 && pid_alive(pid), "container pid {pid} not alive");

    let mut exec = vec!["exec", name.as_str()];
    exec.extend_from_slice(EXEC_REPORT);
    check_exec_report(p.podman(&exec), "sh -c trap");
    check_missing_binary(&p.podman(&["exec", &name, "/no/such/binary"]), Some(127));

    p.podman(&["pause", &name]).ok();
    assert_eq!(p.inspect(&name, "{{.State.Status}}"), "paused");
    p.podman(&["unpause", &name]).ok();
    assert_eq!(p.inspect(&name, "{{.State.Status}}"), "running");
    assert_eq!(
        p.podman(&["exec", &name, "echo", "alive"]).ok().out(),
        "alive"
    );

    // stop is prompt: the TERM trap exits 0 well before the 10 s timeout.
    let t0 = Instant::now();
    p.podman(&["stop", "--time", "10", &name]).ok();
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "stop took {:?}",
        t0.elapsed()
    );
    assert_eq!(p.inspect(&name, "{{.State.Status}}"), "exited");
    assert_eq!(p.inspect(&name, "{{.State.ExitCode}}"), "0");
    assert!(!pid_alive(pid), "pid {pid} survived stop");

    // restart runs the same container again with a new init.
    p.podman(&["restart", &name]).ok();
    p.wait_state(&name, "running", WAIT);
    let pid2: i32 = p.inspect(&name, "{{.State.Pid}}").parse().unwrap_or(0);
    assert!(
        pid2 > 0 && pid2 != pid && pid_alive(pid2),
        "restart: pid {pid2}"
    );
    assert_eq!(
        p.podman(&["exec", &name, "echo", "again"]).ok().out(),
        "again"
    );
    // The file events backend (no journald here) recorded the life cycle.
    let filter = format!("container={name}");
    let o = p
        .podman(&[
            "events",
            "--stream=false",
            "--filter",
            &filter,
            "--format",
            "{{.Status}}",
        ])
        .ok();
    let events = o.lines();
    for want in ["start", "exec_died", "pause", "unpause", "died", "restart"] {
        assert!(
            events.iter().any(|e| e == want),
            "no {want} event\n{}",
            o.describe()
        );
    }

    p.podman(&["rm", "--force", "--time", "10", &name]).ok();
    p.assert_gone(&id);
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn podman5_init_tty_top_stats_update() {
    let _t = Timer::new("podman5_init_tty_top_stats_update");
    let p = Podman::new();
    let img = p.import_busybox();

    // --init: catatonit is pid 1 and reaps; the command is its child.
    let o = p
        .run(&[
            "--rm",
            "--init",
            img,
            "sh",
            "-c",
            "tr '\\0' ' ' < /proc/1/cmdline; echo; echo me=$$",
        ])
        .ok();
    let lines = o.lines();
    assert!(
        lines[0].contains("init"),
        "pid 1 is not the init: {}",
        o.describe()
    );
    assert_ne!(
        lines.get(1).map(String::as_str),
        Some("me=1"),
        "{}",
        o.describe()
    );

    // -it through a pty.
    let o = p
        .exec(under_tty(&p.run_cmd(&[
            "--rm",
            "-it",
            img,
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo isatty; exit 2",
        ])))
        .expect_code(2);
    assert!(
        o.stdout.contains("/dev/pts/") && o.stdout.contains("isatty"),
        "{}",
        o.describe()
    );

    let (name, id) = podman_top_and_stats(&p, img, WAIT);

    p.podman(&["update", "--memory", "96m", "--pids-limit", "60", &name])
        .ok();
    let rel = format!("{}/libpod-{id}", p.cgroup_parent);
    assert_cgroup_value(
        &rel,
        "memory",
        ("memory.limit_in_bytes", "100663296"),
        ("memory.max", "100663296"),
    );
    assert_cgroup_value(&rel, "pids", ("pids.max", "60"), ("pids.max", "60"));
    p.podman(&["rm", "--force", "--time", "0", &name]).ok();
    p.assert_gone(&id);
}

#[test]
#[ignore = "needs the sid root: make test-sid"]
fn podman5_healthcheck_runs_exec() {
    let _t = Timer::new("podman5_healthcheck_runs_exec");
    let p = Podman::new();
    let img = p.import_busybox();
    let name = unique("health");
    // No timer (no systemd here): `podman healthcheck run` is what the timer would call.
    let id = p
        .run(&[
            "-d",
            "--name",
            &name,
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "disable",
            "--health-retries",
            "1",
            img,
            "sleep",
            "1000",
        ])
        .ok()
        .out();
    p.wait_state(&name, "running", WAIT);
    let o = p.podman(&["healthcheck", "run", &name]);
    assert_eq!(
        o.code(),
        1,
        "healthcheck of a failing check\n{}",
        o.describe()
    );
    assert_eq!(p.inspect(&name, "{{.State.Health.Status}}"), "unhealthy");
    p.podman(&["exec", &name, "touch", "/tmp/ok"]).ok();
    p.podman(&["healthcheck", "run", &name]).ok();
    assert_eq!(p.inspect(&name, "{{.State.Health.Status}}"), "healthy");
    p.podman(&["rm", "--force", "--time", "0", &name]).ok();
    p.assert_gone(&id);
}
