//! `events`, as runc has it: `events --stats` prints runc's JSON shape, `events --interval`
//! streams stats until the container stops, and an OOM kill inside the container produces an
//! `oom` event; errors exit 1 and name the value.

mod update_events_common;

use hull_conformance::*;
use serde_json::Value;
use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};
use update_events_common::*;

fn parse_lines(s: &str) -> Vec<Value> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn events_stats_shape() {
    let rt = Runtime::new();
    let id = unique_id("ev-stats");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let _c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);

    let o = rt.run(&["events", "--stats", &id]);
    assert_ok(&o, "events --stats");
    let out = stdout_str(&o);
    assert_eq!(out.lines().count(), 1, "one line: {out}");
    let ev = &parse_lines(&out)[0];
    let keys: Vec<&str> = ev.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert!(keys.contains(&"data"), "{ev}");
    let d = &ev["data"];
    for k in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(d.get(k).is_some(), "data.{k} missing: {d}");
    }
    assert!(d["network_interfaces"].is_null());
    for k in ["kernel", "user"] {
        assert!(d["cpu"]["usage"][k].is_u64(), "cpu.usage.{k}: {d}");
    }
    assert!(d["cpu"]["throttling"].is_object());
    for k in ["usage", "swap", "kernel", "kernelTCP"] {
        assert!(
            d["memory"][k]["limit"].is_u64() && d["memory"][k]["failcnt"].is_u64(),
            "memory.{k}: {}",
            d["memory"]
        );
    }
    assert_eq!(d["memory"]["usage"]["limit"], 104857600u64);
    assert!(
        d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "memory usage: {}",
        d["memory"]
    );
    assert!(
        d["memory"]["raw"]
            .as_object()
            .is_some_and(|r| !r.is_empty()),
        "memory.raw: {}",
        d["memory"]
    );
    // pids: the idle shell (and maybe a sleep), against the cgroup file.
    let current = d["pids"]["current"].as_u64().unwrap_or(0);
    assert!(current >= 1, "pids: {}", d["pids"]);
    let file_current: u64 = read_cg(&cg, "pids", "pids.current", "pids.current")
        .parse()
        .unwrap();
    assert!(
        current.abs_diff(file_current) <= 1,
        "pids.current {current} vs file {file_current}"
    );
    assert_eq!(d["pids"]["limit"], 50);
    // cpu usage counts the shell's work: > 0 ns, and percpu (v1) sums to about the total.
    assert!(
        d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
        "{}",
        d["cpu"]
    );
    if let Some(per) = d["cpu"]["usage"]["percpu"].as_array() {
        let sum: u64 = per.iter().filter_map(|v| v.as_u64()).sum();
        assert!(sum > 0, "{}", d["cpu"]);
    }
    if !is_v2() {
        // v1 cpuset values are always present (as in runc).
        assert!(d["cpuset"]["cpus"].is_array(), "{}", d["cpuset"]);
        assert!(d["cpuset"]["sched_load_balance"].is_u64());
    }
}

#[test]
fn events_interval_until_stop() {
    let rt = Runtime::new();
    let id = unique_id("ev-int");
    let (b, _g) = bundle_with(&id, "sleep 2", default_resources());
    let _c = running(&rt, &b, &id);
    if is_runc() && !is_v2() {
        // runc on cgroup v1 keeps printing until the cgroup is deleted, not until the
        // container stops: nothing to check against it here.
        return;
    }
    let start = Instant::now();
    let o = rt.run_timeout(
        &["events", "--interval", "300ms", &id],
        Duration::from_secs(20),
    );
    assert_ok(&o, "events --interval 300ms");
    let evs = parse_lines(&stdout_str(&o));
    let stats = evs.iter().filter(|e| e["type"] == "stats").count();
    // sleep 2 with a 300 ms interval: about six lines; the container's end ends events.
    assert!(stats >= 2, "expected >= 2 stats lines: {}", stdout_str(&o));
    for e in &evs {
        assert_eq!(e["id"], id.as_str());
        if e["type"] == "stats" {
            assert!(e["data"]["memory"].is_object());
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "events ran too long"
    );
}

/// In the host's pid namespace the container's other processes outlive its init: events
/// follows the cgroup (as runc does), not the init.
#[test]
fn events_follow_the_cgroup_without_a_pid_namespace() {
    let rt = Runtime::new();
    let id = unique_id("ev-hostpid");
    let (mut b, _g) = bundle_with(&id, "sleep 1001 & wait", default_resources());
    let ns: Vec<Value> = b.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect();
    b.config["linux"]["namespaces"] = Value::Array(ns);
    b.save();
    let c = running(&rt, &b, &id);
    let dir = TempDir::new("ev-hostpid");
    let out_p = dir.path().join("out");
    let mut cmd = rt.cmd(&["events", "--interval", "100ms", &id]);
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn events");
    let lines = || {
        fs::read_to_string(&out_p)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    assert!(poll_until(T, || lines() >= 1), "events printed nothing");
    // the init (sh) dies; its child sleep keeps the container's cgroup populated
    // (not `hull kill KILL`: without a pid namespace that signals the whole cgroup, as runc)
    let init = c.pid();
    assert_eq!(
        unsafe { libc::kill(init, libc::SIGKILL) },
        0,
        "kill the init"
    );
    c.wait_status("stopped", T);
    let after = lines();
    std::thread::sleep(Duration::from_millis(600));
    let still = child.try_wait().unwrap().is_none();
    let more = lines() > after;
    assert_ok(&rt.run(&["kill", "--all", &id, "KILL"]), "kill --all");
    if is_runc() && !is_v2() {
        // runc on cgroup v1 keeps printing until the cgroup is deleted, not until it empties.
        assert_ok(&rt.run(&["delete", "--force", &id]), "delete");
    }
    let status = wait_child(&mut child, T, "events after the cgroup emptied");
    assert!(
        still,
        "events stopped with the init although the cgroup has processes"
    );
    assert!(
        more,
        "no stats while the init's children were still running"
    );
    assert!(status.success(), "events: {status:?}");
}

#[test]
fn events_reports_oom() {
    let rt = Runtime::new();
    let id = unique_id("ev-oom");
    // 32 MiB of memory, no swap on top; the hog waits for /go so that events is attached.
    let res = serde_json::json!({
        "memory": {"limit": 33554432, "swap": 33554432},
        "pids": {"limit": 50}
    });
    let (b, _g) = bundle_with(
        &id,
        "while [ ! -e /go ]; do sleep 0.05; done; head -c 300m /dev/zero | tail; sleep 0.3",
        res,
    );
    let c = running(&rt, &b, &id);

    let dir = TempDir::new("ev-oom");
    let out_p = dir.path().join("out");
    let err_p = dir.path().join("err");
    let mut cmd = rt.cmd(&["events", "--interval", "100ms", &id]);
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(fs::File::create(&err_p).unwrap());
    let mut child = cmd.spawn().expect("spawn events");
    // The first stats line means the OOM watch is registered.
    let attached = poll_until(T, || {
        fs::read_to_string(&out_p).is_ok_and(|s| s.lines().count() >= 1)
    });
    if !attached {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "events printed nothing: {}",
            fs::read_to_string(&err_p).unwrap_or_default()
        );
    }
    fs::write(c.host_path("/go"), "").expect("create /go in the rootfs");
    let got_oom = poll_until(Duration::from_secs(30), || {
        fs::read_to_string(&out_p).is_ok_and(|s| s.contains("\"oom\""))
    });
    // hull (and runc on v2) exits once the container has stopped; runc on v1 only when the
    // cgroup is deleted.
    let status = if is_runc() && !is_v2() || !got_oom {
        let _ = child.kill();
        child.wait().ok()
    } else {
        Some(wait_child(
            &mut child,
            Duration::from_secs(30),
            "events until the OOM'd container stops",
        ))
    };
    let out = fs::read_to_string(&out_p).unwrap_or_default();
    let err = fs::read_to_string(&err_p).unwrap_or_default();
    assert!(got_oom, "no oom event within 30 s: {out} {err}");
    if !(is_runc() && !is_v2()) {
        assert!(
            status.is_some_and(|s| s.success()),
            "events failed: {status:?} {err}"
        );
    }
    let evs = parse_lines(&out);
    let ooms: Vec<&Value> = evs.iter().filter(|e| e["type"] == "oom").collect();
    assert!(!ooms.is_empty(), "no oom event: {out} {err}");
    for e in ooms {
        assert_eq!(e["id"], id.as_str());
        assert!(e.get("data").is_none(), "oom events have no data: {e}");
    }
}

#[test]
fn events_errors() {
    let rt = Runtime::new();
    let o = rt.run(&["events", "--stats", "nope-ev-missing"]);
    assert_fail1(&o, "events of a missing container");
    assert!(
        stderr_str(&o).contains("container does not exist"),
        "{}",
        describe(&o)
    );

    let id = unique_id("ev-err");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let _c = running(&rt, &b, &id);
    for bad in ["5x", "abc", "5", ""] {
        let o = rt.run(&["events", "--interval", bad, &id]);
        assert_fail1(&o, &format!("events --interval {bad:?}"));
        assert!(
            err_text(&o).contains(&format!("invalid value \"{bad}\" for flag -interval")),
            "{}",
            describe(&o)
        );
    }
    for zero in ["0", "0s", "-1s"] {
        let o = rt.run(&["events", "--interval", zero, &id]);
        assert_fail1(&o, &format!("events --interval {zero}"));
        assert!(
            stderr_str(&o).contains("duration interval must be greater than 0"),
            "{}",
            describe(&o)
        );
    }

    // A stopped container has no events.
    let id2 = unique_id("ev-stop");
    let (b2, _g2) = bundle_with(&id2, "exit 0", default_resources());
    let c2 = Container::started(&rt, &b2, &id2);
    c2.wait_status("stopped", T);
    let o = rt.run(&["events", "--stats", &id2]);
    assert_fail1(&o, "events of a stopped container");
    assert!(
        stderr_str(&o).contains("is not running"),
        "{}",
        describe(&o)
    );
}
