//! `update` and `events`, as runc has them: update through every flag and through
//! `--resources` JSON (file and stdin), checked in the cgroup files host-side (cgroup v1 /
//! hybrid or v2, whichever this host has); values not named are preserved and the device
//! cgroup keeps enforcing; errors exit 1 and name the value or file. `events --stats` prints
//! runc's JSON shape, `events --interval` streams stats until the container stops, and an
//! OOM kill inside the container produces an `oom` event.

use hull_conformance::*;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Script that idles until TERM (pid 1 in a pid namespace needs a handler).
const IDLE: &str = "trap 'exit 0' TERM; while :; do sleep 0.1; done";

/// True on a pure cgroup v2 host (cgroup2 at /sys/fs/cgroup); false on v1 / hybrid, where the
/// resource controllers are v1 hierarchies.
fn is_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup file of a container with cgroupsPath `cg`: `<v1 controller>/<cg>/<v1 file>` on
/// v1/hybrid hosts, `<cg>/<v2 file>` on v2.
fn cg_file(cg: &str, ctrl: &str, v1: &str, v2: &str) -> PathBuf {
    let rel = cg.trim_start_matches('/');
    if is_v2() {
        Path::new("/sys/fs/cgroup").join(rel).join(v2)
    } else {
        Path::new("/sys/fs/cgroup").join(ctrl).join(rel).join(v1)
    }
}

fn read_cg(cg: &str, ctrl: &str, v1: &str, v2: &str) -> String {
    let p = cg_file(cg, ctrl, v1, v2);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

fn memory_limit(cg: &str) -> String {
    read_cg(cg, "memory", "memory.limit_in_bytes", "memory.max")
}

fn pids_max(cg: &str) -> String {
    read_cg(cg, "pids", "pids.max", "pids.max")
}

/// v1 reports "unlimited" memory as a huge page-aligned number, v2 as "max".
fn is_unlimited(v: &str) -> bool {
    v == "max" || v.parse::<u64>().is_ok_and(|n| n > 1 << 62)
}

/// Removes the container's cgroup directories on drop (the harness' Bundle guard covers the
/// v1/hybrid hierarchies; this also covers a pure v2 host).
struct CgGuard(String);

impl Drop for CgGuard {
    fn drop(&mut self) {
        remove_cgroup(&self.0);
        let p = Path::new("/sys/fs/cgroup").join(self.0.trim_start_matches('/'));
        if is_v2() && p.exists() {
            for _ in 0..50 {
                if fs::remove_dir(&p).is_ok() || !p.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A busybox bundle with a test cgroup path and `resources` as linux.resources.
fn bundle_with(id: &str, script: &str, resources: Value) -> (Bundle, CgGuard) {
    let mut b = Bundle::busybox();
    let cg = test_cgroups_path(id);
    b.set_cgroups_path(&cg);
    b.set_args(&["sh", "-c", script]);
    b.config["linux"]["resources"] = resources;
    b.save();
    (b, CgGuard(cg))
}

fn default_resources() -> Value {
    serde_json::json!({
        "memory": {"limit": 104857600},
        "pids": {"limit": 50},
        "cpu": {"shares": 1024}
    })
}

#[track_caller]
fn update_ok(rt: &Runtime, id: &str, args: &[&str]) {
    let mut a = vec!["update"];
    a.extend_from_slice(args);
    a.push(id);
    let o = rt.run(&a);
    assert_ok(&o, &format!("update {args:?}"));
}

/// Runs the runtime with `input` on stdin (stdout/stderr captured through files).
fn run_with_stdin(rt: &Runtime, args: &[&str], input: &[u8]) -> Output {
    let dir = TempDir::new("upd-io");
    let out_p = dir.path().join("out");
    let err_p = dir.path().join("err");
    let mut cmd = rt.cmd(args);
    cmd.stdin(Stdio::piped())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(fs::File::create(&err_p).unwrap());
    let mut child = cmd.spawn().expect("spawn runtime");
    {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
    }
    let status = wait_child(&mut child, T, &format!("{args:?}"));
    Output {
        status,
        stdout: fs::read(&out_p).unwrap_or_default(),
        stderr: fs::read(&err_p).unwrap_or_default(),
    }
}

fn running<'a>(rt: &'a Runtime, b: &'a Bundle, id: &str) -> Container<'a> {
    let c = Container::with_id(rt, b, id);
    c.create();
    c.start();
    c.wait_status("running", T);
    c
}

// ---------------------------------------------------------------------------------------------
// update
// ---------------------------------------------------------------------------------------------

#[test]
fn update_memory_and_pids_flags() {
    let rt = Runtime::new();
    let id = unique_id("upd-mem");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert_eq!(memory_limit(&cg), "104857600");
    assert_eq!(pids_max(&cg), "50");

    update_ok(&rt, &id, &["--memory", "200m"]);
    assert_eq!(memory_limit(&cg), "209715200");
    assert_eq!(pids_max(&cg), "50", "pids limit must be preserved");

    update_ok(&rt, &id, &["--memory-reservation=50m"]);
    assert_eq!(
        read_cg(&cg, "memory", "memory.soft_limit_in_bytes", "memory.low"),
        "52428800"
    );
    assert_eq!(memory_limit(&cg), "209715200");

    // memory+swap: only where the kernel accounts swap.
    let swap_file = cg_file(
        &cg,
        "memory",
        "memory.memsw.limit_in_bytes",
        "memory.swap.max",
    );
    if swap_file.exists() {
        update_ok(&rt, &id, &["--memory", "300m", "--memory-swap", "1g"]);
        assert_eq!(memory_limit(&cg), "314572800");
        let want = if is_v2() {
            (1073741824u64 - 314572800).to_string()
        } else {
            "1073741824".to_string()
        };
        assert_eq!(fs::read_to_string(&swap_file).unwrap().trim(), want);
    }

    // -1: unlimited, and swap with it when not given.
    update_ok(&rt, &id, &["--memory", "-1"]);
    let m = memory_limit(&cg);
    assert!(is_unlimited(&m), "memory limit after --memory -1: {m}");
    if swap_file.exists() {
        let s = fs::read_to_string(&swap_file).unwrap();
        assert!(is_unlimited(s.trim()), "swap after --memory -1: {s}");
    }

    update_ok(&rt, &id, &["--memory", "128m", "--pids-limit", "20"]);
    assert_eq!(memory_limit(&cg), "134217728");
    assert_eq!(pids_max(&cg), "20");
    // 0 leaves the limit alone; -1 removes it.
    update_ok(&rt, &id, &["--pids-limit", "0"]);
    assert_eq!(pids_max(&cg), "20");
    update_ok(&rt, &id, &["--pids-limit", "-1"]);
    assert_eq!(pids_max(&cg), "max");
    assert_eq!(memory_limit(&cg), "134217728", "memory must be preserved");
    // Kernel memory: accepted with a warning and ignored, like runc.
    let o = rt.run(&["update", "--kernel-memory", "10m", &id]);
    assert_ok(&o, "update --kernel-memory");
    assert!(
        stderr_str(&o).contains("ignored"),
        "expected a warning: {}",
        describe(&o)
    );
    assert_eq!(c.status().as_deref(), Some("running"));
}

#[test]
fn update_cpu_flags() {
    let rt = Runtime::new();
    let id = unique_id("upd-cpu");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let _c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);

    update_ok(&rt, &id, &["--cpu-share", "512"]);
    if is_v2() {
        // runc's shares → weight conversion: 1 + ((512 - 2) * 9999) / 262142.
        assert_eq!(read_cg(&cg, "cpu", "", "cpu.weight"), "20");
    } else {
        assert_eq!(read_cg(&cg, "cpu", "cpu.shares", ""), "512");
    }

    update_ok(
        &rt,
        &id,
        &["--cpu-period", "200000", "--cpu-quota", "50000"],
    );
    if is_v2() {
        assert_eq!(read_cg(&cg, "cpu", "", "cpu.max"), "50000 200000");
    } else {
        assert_eq!(read_cg(&cg, "cpu", "cpu.cfs_period_us", ""), "200000");
        assert_eq!(read_cg(&cg, "cpu", "cpu.cfs_quota_us", ""), "50000");
    }

    let burst = cg_file(&cg, "cpu", "cpu.cfs_burst_us", "cpu.max.burst");
    if burst.exists() && !is_runc() {
        update_ok(&rt, &id, &["--cpu-burst", "1000"]);
        assert_eq!(fs::read_to_string(&burst).unwrap().trim(), "1000");
    }

    update_ok(&rt, &id, &["--cpu-quota", "-1"]);
    if is_v2() {
        assert_eq!(read_cg(&cg, "cpu", "", "cpu.max"), "max 200000");
    } else {
        assert_eq!(read_cg(&cg, "cpu", "cpu.cfs_quota_us", ""), "-1");
        assert_eq!(read_cg(&cg, "cpu", "cpu.cfs_period_us", ""), "200000");
    }

    // Real-time bandwidth exists only with CONFIG_RT_GROUP_SCHED on v1.
    if !is_v2() && cg_file(&cg, "cpu", "cpu.rt_period_us", "").exists() {
        update_ok(
            &rt,
            &id,
            &["--cpu-rt-period", "500000", "--cpu-rt-runtime", "0"],
        );
        assert_eq!(read_cg(&cg, "cpu", "cpu.rt_period_us", ""), "500000");
        assert_eq!(read_cg(&cg, "cpu", "cpu.rt_runtime_us", ""), "0");
    }

    let cpus = cg_file(&cg, "cpuset", "cpuset.cpus", "cpuset.cpus");
    if cpus.exists() {
        update_ok(&rt, &id, &["--cpuset-cpus", "0", "--cpuset-mems", "0"]);
        assert_eq!(fs::read_to_string(&cpus).unwrap().trim(), "0");
        assert_eq!(read_cg(&cg, "cpuset", "cpuset.mems", "cpuset.mems"), "0");
    }

    // blkio weight: bfq's file when the kernel has it, else the classic one.
    let (w1, w2) = if is_v2() {
        (
            "",
            if cg_file(&cg, "", "", "io.bfq.weight").exists() {
                "io.bfq.weight"
            } else {
                "io.weight"
            },
        )
    } else if cg_file(&cg, "blkio", "blkio.weight", "").exists() {
        ("blkio.weight", "")
    } else {
        ("blkio.bfq.weight", "")
    };
    let wfile = cg_file(&cg, "blkio", w1, w2);
    if wfile.exists() {
        update_ok(&rt, &id, &["--blkio-weight", "300"]);
        let v = fs::read_to_string(&wfile).unwrap();
        let want = if w2 == "io.weight" {
            (1 + (300 - 10) * 9999 / 990).to_string()
        } else {
            "300".to_string()
        };
        assert!(
            v.split_whitespace().any(|t| t == want),
            "{}: {v:?}, want {want}",
            wfile.display()
        );
    }

    // Nothing of the above touched memory or pids.
    assert_eq!(memory_limit(&cg), "104857600");
    assert_eq!(pids_max(&cg), "50");
}

#[test]
fn update_from_resources_json() {
    let rt = Runtime::new();
    let id = unique_id("upd-json");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let _c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);

    // --resources -
    let o = run_with_stdin(
        &rt,
        &["update", "--resources", "-", &id],
        br#"{"memory":{"limit":157286400},"pids":{"limit":40}}"#,
    );
    assert_ok(&o, "update --resources -");
    assert_eq!(memory_limit(&cg), "157286400");
    assert_eq!(pids_max(&cg), "40");

    // --resources=-
    let o = run_with_stdin(
        &rt,
        &["update", "--resources=-", &id],
        br#"{"pids":{"limit":30}}"#,
    );
    assert_ok(&o, "update --resources=-");
    assert_eq!(pids_max(&cg), "30");
    assert_eq!(memory_limit(&cg), "157286400", "memory must be preserved");

    // -r - ; other flags are ignored when --resources is given.
    let o = run_with_stdin(
        &rt,
        &["update", "-r", "-", "--pids-limit", "99", &id],
        br#"{"memory":{"limit":115343360}}"#,
    );
    assert_ok(&o, "update -r -");
    assert_eq!(memory_limit(&cg), "115343360");
    assert_eq!(pids_max(&cg), "30", "flags must be ignored with -r");

    // -r <file>
    let dir = TempDir::new("upd-res");
    let f = dir.path().join("res.json");
    fs::write(&f, r#"{"pids":{"limit":25}}"#).unwrap();
    update_ok(&rt, &id, &["-r", f.to_str().unwrap()]);
    assert_eq!(pids_max(&cg), "25");

    // The stored resources follow the updates: a later flag update keeps them.
    update_ok(&rt, &id, &["--cpu-share", "256"]);
    assert_eq!(memory_limit(&cg), "115343360");
    assert_eq!(pids_max(&cg), "25");

    // Bad JSON, missing file: exit 1.
    let o = run_with_stdin(&rt, &["update", "-r", "-", &id], br#"{"pids":{"limit":77}"#);
    assert_fail1(&o, "update with truncated JSON");
    let o = rt.run(&["update", "-r", "/nonexistent/res.json", &id]);
    assert_fail1(&o, "update -r missing file");
    assert!(
        stderr_str(&o).contains("/nonexistent/res.json"),
        "{}",
        describe(&o)
    );
    assert_eq!(pids_max(&cg), "25");
}

/// The device cgroup keeps enforcing after updates (runc never touches devices on update).
#[test]
fn update_keeps_device_rules() {
    let rt = Runtime::new();
    let id = unique_id("upd-dev");
    let (mut b, _g) = bundle_with(&id, IDLE, default_resources());
    b.set_readonly(false);
    // CAP_MKNOD to create a node for /dev/mem (c 1:1), which the default rules do not allow
    // to be opened.
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(Value::from("CAP_MKNOD"));
    }
    b.save();
    let _c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    let list = cg_file(&cg, "devices", "devices.list", "");
    let before = (!is_v2()).then(|| fs::read_to_string(&list).unwrap());

    let probe = |what: &str| {
        let o = rt.run(&[
            "exec",
            &id,
            "sh",
            "-c",
            "rm -f /tmp/mem; mknod /tmp/mem c 1 1 || exit 3; \
             if head -c 1 /tmp/mem >/dev/null 2>&1; then echo OPENED; else echo DENIED; fi; \
             echo x > /dev/null && echo NULLOK",
        ]);
        assert_ok(&o, &format!("exec probe {what}"));
        let out = stdout_str(&o);
        assert!(
            out.contains("DENIED"),
            "{what}: /dev/mem must stay denied: {out}"
        );
        assert!(
            out.contains("NULLOK"),
            "{what}: /dev/null must stay usable: {out}"
        );
    };
    probe("before update");
    update_ok(&rt, &id, &["--memory", "64m", "--pids-limit", "30"]);
    let o = run_with_stdin(
        &rt,
        &["update", "-r", "-", &id],
        br#"{"cpu":{"shares":300},"devices":[{"allow":true,"access":"rwm"}]}"#,
    );
    assert_ok(&o, "update with devices in the JSON");
    probe("after update");
    if let Some(before) = before {
        assert_eq!(
            fs::read_to_string(&list).unwrap(),
            before,
            "devices.list changed"
        );
    }
}

#[test]
fn update_errors() {
    let rt = Runtime::new();
    // A container that does not exist.
    let o = rt.run(&["update", "--memory", "10m", "nope-upd-missing"]);
    assert_fail1(&o, "update of a missing container");
    assert!(
        stderr_str(&o).contains("container does not exist"),
        "{}",
        describe(&o)
    );

    let id = unique_id("upd-err");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let _c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);

    // Values hull rejects itself name the flag and the value.
    let o = rt.run(&["update", "--memory", "12q", &id]);
    assert_fail1(&o, "update --memory 12q");
    let e = stderr_str(&o);
    assert!(
        e.contains("memory") && e.contains("12q"),
        "{}",
        describe(&o)
    );
    let o = rt.run(&["update", "--pids-limit", "abc", &id]);
    assert_fail1(&o, "update --pids-limit abc");
    assert!(
        err_text(&o).contains("invalid value \"abc\" for flag -pids-limit"),
        "{}",
        describe(&o)
    );
    let o = rt.run(&["update", "--cpu-period", "-5", &id]);
    assert_fail1(&o, "update --cpu-period -5");
    assert!(stderr_str(&o).contains("cpu-period"), "{}", describe(&o));

    // A value the kernel rejects names the file and the value.
    let o = rt.run(&["update", "--cpuset-cpus", "4095", &id]);
    assert_fail1(&o, "update --cpuset-cpus 4095");
    let e = stderr_str(&o);
    assert!(
        e.contains("cpuset.cpus") && e.contains("4095"),
        "{}",
        describe(&o)
    );
    // ... and leaves everything else as it was.
    assert_eq!(memory_limit(&cg), "104857600");
    assert_eq!(pids_max(&cg), "50");

    // Intel RDT is not there: a clear error.
    let o = rt.run(&["update", "--l3-cache-schema", "L3:0=f", &id]);
    assert_fail1(&o, "update --l3-cache-schema");

    // A stopped container cannot be updated.
    let id2 = unique_id("upd-stop");
    let (b2, _g2) = bundle_with(&id2, "exit 0", default_resources());
    let c2 = Container::with_id(&rt, &b2, &id2);
    c2.create();
    c2.start();
    c2.wait_status("stopped", T);
    let o = rt.run(&["update", "--memory", "10m", &id2]);
    assert_fail1(&o, "update of a stopped container");
    assert!(
        stderr_str(&o).contains("container not running"),
        "{}",
        describe(&o)
    );
}

// ---------------------------------------------------------------------------------------------
// events
// ---------------------------------------------------------------------------------------------

/// stderr with the text log format's quoting undone (msg="... \\"x\\" ...").
fn err_text(o: &Output) -> String {
    stderr_str(o).replace("\\\"", "\"")
}

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
    let c2 = Container::with_id(&rt, &b2, &id2);
    c2.create();
    c2.start();
    c2.wait_status("stopped", T);
    let o = rt.run(&["events", "--stats", &id2]);
    assert_fail1(&o, "events of a stopped container");
    assert!(
        stderr_str(&o).contains("is not running"),
        "{}",
        describe(&o)
    );
}
