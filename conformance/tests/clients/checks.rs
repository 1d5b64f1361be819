//! Checks every client generation shares (tests/clients.rs for Debian 12's, tests/clients_sid
//! for 2026's): the same script in a container, the same expectations, whatever client ran it.

use std::time::Duration;

use super::containerd::Containerd;
use super::podman::Podman;
use super::util::{status_field, unique, wait_for, Output};

/// Reports on stdout and stderr and exits 3: `check_report`.
pub const REPORT: &str = "echo hello; echo oops >&2; echo pid=$$; exit 3";

/// What a client returned for a container running `REPORT`: both streams, pid 1, status 3.
pub fn check_report(o: Output) {
    let o = o.expect_code(3);
    assert_eq!(o.lines(), ["hello", "pid=1"], "{}", o.describe());
    assert!(o.stderr.contains("oops"), "stderr lost\n{}", o.describe());
}

/// The output lines of a script that checks the spec options a client set (`out`, with the
/// client's `describe()` as `d`): every line of `want` must be printed, and each `(field,
/// value)` of the /proc/self/status the script printed too must hold.
pub fn check_lines_and_status(out: &[String], d: &str, want: &[&str], status: &[(&str, &str)]) {
    for w in want {
        assert!(out.iter().any(|l| l == w), "missing {w:?}\n{d}");
    }
    let text = out.join("\n");
    for (field, value) in status {
        assert_eq!(
            status_field(&text, field).as_deref(),
            Some(*value),
            "{field}\n{d}"
        );
    }
}

/// A client's answer to running `/no/such/binary`: the runtime's error reaches the user, with
/// `code` (podman and docker map "no such file" to 127) or any failure status.
pub fn check_missing_binary(o: &Output, code: Option<i32>) {
    match code {
        Some(c) => assert_eq!(o.code(), c, "{}", o.describe()),
        None => assert_ne!(o.code(), 0, "a missing binary ran\n{}", o.describe()),
    }
    assert!(
        o.stderr.contains("/no/such/binary"),
        "runtime error not reported to the client\n{}",
        o.describe()
    );
}

/// An exec that prints its marker and the container's pid-1 command line, then exits 5.
pub const EXEC_REPORT: &[&str] = &[
    "sh",
    "-c",
    "echo inexec; tr '\\0' ' ' < /proc/1/cmdline; echo; echo err >&2; exit 5",
];

/// What a client returned for `EXEC_REPORT` in a container whose init runs `init_cmdline...`.
pub fn check_exec_report(o: Output, init_cmdline: &str) {
    let o = o.expect_code(5);
    let lines = o.lines();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("inexec"),
        "{}",
        o.describe()
    );
    assert!(
        lines.iter().any(|l| l.starts_with(init_cmdline)),
        "exec does not see the container's pid 1 ({init_cmdline}...)\n{}",
        o.describe()
    );
    assert!(o.stderr.contains("err"), "{}", o.describe());
}

/// Starts a container of `img` with three processes (`sh -c "sleep 1000 & sleep 1001 &
/// wait"`), 64m of memory and 50 pids; checks that `podman top` lists its processes (its pid
/// namespace) and `podman stats` reads its cgroup. Returns (name, full id).
pub fn podman_top_and_stats(p: &Podman, img: &str, wait: Duration) -> (String, String) {
    let name = unique("stats");
    let id = p
        .run(&[
            "-d",
            "--name",
            &name,
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            img,
            "sh",
            "-c",
            "sleep 1000 & sleep 1001 & wait",
        ])
        .ok()
        .out();
    p.wait_state(&name, "running", wait);
    let o = wait_for(wait, "both sleeps in podman top", || {
        let o = p.podman(&["top", &name, "pid", "args"]).ok();
        (o.stdout.contains("sleep 1000") && o.stdout.contains("sleep 1001")).then_some(o)
    });
    assert!(o.stdout.contains("sh -c"), "{}", o.describe());
    let o = p
        .podman(&["stats", "--no-stream", "--format", "json", &name])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("stats not JSON: {e}\n{}", o.describe()));
    assert_eq!(v[0]["pids"].as_str(), Some("3"), "pids in stats: {v}");
    let mem = v[0]["mem_usage"].as_str().unwrap_or_default();
    assert!(
        mem.ends_with("/ 67.11MB"),
        "memory limit not in stats ({mem:?}): {v}"
    );
    (name, id)
}

/// For a ctr task running `sh -c "sleep 1000 & sleep 1001 & wait"` (pid `init`) with a memory
/// limit: the shim's metrics come from the container's cgroup (3 pids, the limit, some usage)
/// and `ctr task ps` (the runtime's `ps`) lists the three processes.
pub fn check_ctr_metrics_and_ps(c: &Containerd, id: &str, init: i32, limit: u64, wait: Duration) {
    let m = wait_for(wait, "metrics with the three processes", || {
        let o = c.ctr(&["task", "metrics", "--format", "json", id]).ok();
        let m: serde_json::Value = serde_json::from_str(&o.stdout)
            .unwrap_or_else(|e| panic!("metrics are not JSON: {e}\n{}", o.describe()));
        (m.pointer("/pids/current").and_then(|v| v.as_u64()) == Some(3)).then_some(m)
    });
    let got = m
        .pointer("/memory/usage/limit")
        .or_else(|| m.pointer("/memory/usage_limit"))
        .and_then(|v| v.as_u64());
    assert_eq!(got, Some(limit), "memory limit in metrics: {m}");
    let usage = m
        .pointer("/memory/usage/usage")
        .or_else(|| m.pointer("/memory/usage"))
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    assert!(usage > 0, "no memory usage in metrics: {m}");

    let o = c.ctr(&["task", "ps", id]).ok();
    let pids: Vec<i32> = o
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(pids.len(), 3, "task ps: {}", o.describe());
    assert!(
        pids.contains(&init),
        "init {init} missing from task ps: {}",
        o.describe()
    );
}
