//! `update`, as runc has it: update through every flag and through `--resources` JSON (file
//! and stdin), checked in the cgroup files host-side (cgroup v1 / hybrid or v2, whichever this
//! host has); values not named are preserved and the device cgroup keeps enforcing; errors
//! exit 1 and name the value or file.

mod update_events_common;

use hull_conformance::*;
use serde_json::Value;
use std::fs;
use update_events_common::*;

/// A size for `update`'s flags: runc's unit suffixes ("200m", which hull takes too); crun 1.28
/// reads bytes only (it takes "200m" as 200 bytes, and the kernel refuses that limit).
fn size(v: &str) -> String {
    if !is_crun() {
        return v.to_string();
    }
    let (n, unit) = v.split_at(v.len() - 1);
    let shift = match unit {
        "k" => 10,
        "m" => 20,
        "g" => 30,
        _ => return v.to_string(),
    };
    (n.parse::<u64>().expect("size value") << shift).to_string()
}

#[test]
fn update_memory_and_pids_flags() {
    let rt = Runtime::new();
    let id = unique_id("upd-mem");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);
    assert_eq!(memory_limit(&cg), "104857600");
    assert_eq!(pids_max(&cg), "50");

    update_ok(&rt, &id, &["--memory", &size("200m")]);
    assert_eq!(memory_limit(&cg), "209715200");
    assert_eq!(pids_max(&cg), "50", "pids limit must be preserved");

    update_ok(
        &rt,
        &id,
        &[&format!("--memory-reservation={}", size("50m"))],
    );
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
        update_ok(
            &rt,
            &id,
            &["--memory", &size("300m"), "--memory-swap", &size("1g")],
        );
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

    update_ok(&rt, &id, &["--memory", &size("128m"), "--pids-limit", "20"]);
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
    // runc 1.1.5 and crun 1.28 have no --cpu-burst
    if burst.exists() && !is_runc() && !is_crun() {
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
    update_ok(&rt, &id, &["--memory", &size("64m"), "--pids-limit", "30"]);
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
    // runc's words; crun's: "container `<id>` does not exist: open ..."
    let words = if is_crun() {
        "does not exist"
    } else {
        "container does not exist"
    };
    assert!(stderr_str(&o).contains(words), "{}", describe(&o));

    let id = unique_id("upd-err");
    let (b, _g) = bundle_with(&id, IDLE, default_resources());
    let _c = running(&rt, &b, &id);
    let cg = test_cgroups_path(&id);

    // Values hull rejects itself name the flag and the value.
    let o = rt.run(&["update", "--memory", "12q", &id]);
    assert_fail1(&o, "update --memory 12q");
    let e = stderr_str(&o);
    // runc 1.3.6 names the flag and only the bad suffix ("invalid value for memory: invalid
    // suffix: 'q'"); hull names the whole value.
    assert!(
        e.contains("memory") && (e.contains("12q") || is_runc()),
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
    let c2 = Container::started(&rt, &b2, &id2);
    c2.wait_status("stopped", T);
    let o = rt.run(&["update", "--memory", "10m", &id2]);
    assert_fail1(&o, "update of a stopped container");
    assert!(
        stderr_str(&o).contains("container not running"),
        "{}",
        describe(&o)
    );
}
