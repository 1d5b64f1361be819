//! cgroup conformance: `linux.resources.unified` key/values, and values the kernel rejects
//! (the error names the file and the value).

mod cgroups_common;

use cgroups_common::*;
use hull_conformance::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// unified
// ---------------------------------------------------------------------------

#[test]
fn unified_key_values() {
    let rt = Runtime::new();
    let id = unique_id("cguni");
    match kind() {
        CgroupKind::V1 => {
            skip("unified", "no cgroup2 mount: checking the refusal");
            let b = cg_bundle(&id, json!({ "unified": { "pids.max": "42" } }));
            assert_create_refused(&rt, &b, &id, &["unified"]);
        }
        CgroupKind::Hybrid if is_runc() => {
            skip("unified", "runc refuses unified resources on a hybrid host");
            let b = cg_bundle(&id, json!({ "unified": { "cgroup.max.descendants": "7" } }));
            assert_create_refused(&rt, &b, &id, &["unified"]);
        }
        CgroupKind::Hybrid => {
            // hull writes them to the container's dir in /sys/fs/cgroup/unified: only core
            // files and the controllers of that mount exist there.
            let mut m = serde_json::Map::new();
            m.insert("cgroup.max.descendants".into(), json!("7"));
            let huge = hugepage_sizes().first().map(|(s, b)| (s.clone(), *b));
            let huge = huge.filter(|_| ctrl_mount("hugetlb").as_deref() == Some("unified"));
            if let Some((s, bytes)) = &huge {
                m.insert(format!("hugetlb.{s}.max"), json!((4 * bytes).to_string()));
            }
            let b = cg_bundle(&id, json!({ "unified": m }));
            let c = start(&rt, &b, &id);
            let v = View::new(&c, &test_cgroups_path(&id));
            v.expect("cgroup", "cgroup.max.descendants", "7");
            if let Some((s, bytes)) = huge {
                v.expect(
                    "hugetlb",
                    &format!("hugetlb.{s}.max"),
                    &(4 * bytes).to_string(),
                );
            }
        }
        CgroupKind::V2 => {
            let mut kv = vec![("cgroup", "cgroup.max.descendants", "7".to_string())];
            if ctrl_mount("pids").is_some() {
                kv.push(("pids", "pids.max", "42".to_string()));
            }
            if ctrl_mount("memory").is_some() {
                kv.push(("memory", "memory.high", (96 * MIB).to_string()));
            }
            let m: serde_json::Map<String, Value> = kv
                .iter()
                .map(|(_, k, v)| (k.to_string(), json!(v)))
                .collect();
            let b = cg_bundle(&id, json!({ "unified": m }));
            let c = start(&rt, &b, &id);
            let v = View::new(&c, &test_cgroups_path(&id));
            for (ctrl, k, val) in &kv {
                v.expect(ctrl, k, val);
            }
        }
    }
}

#[test]
fn unified_unknown_key_is_refused() {
    if kind() == CgroupKind::V1 || (kind() == CgroupKind::Hybrid && is_runc()) {
        skip("unified unknown key", "no unified resources on this host");
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgunibad");
    let b = cg_bundle(&id, json!({ "unified": { "nosuchctl.max": "1" } }));
    assert_create_refused(&rt, &b, &id, &["nosuchctl.max"]);
    // a controller that exists on the host but not in the container's cgroup2 dir (hybrid:
    // memory lives in v1) or a file the kernel refuses: the error names the key
    let id2 = unique_id("cgunibad2");
    let (key, val) = if is_v2() {
        ("cgroup.max.descendants", "-5")
    } else {
        ("memory.high", "1000000")
    };
    let b2 = cg_bundle(&id2, json!({ "unified": { key: val } }));
    assert_create_refused(&rt, &b2, &id2, &[key]);
}

// ---------------------------------------------------------------------------
// values the kernel rejects
// ---------------------------------------------------------------------------

#[test]
fn rejected_values_name_file_and_value() {
    let rt = Runtime::new();
    // a cpu that does not exist
    if ctrl_mount("cpuset").is_some() {
        let id = unique_id("cgbadcpus");
        let b = cg_bundle(&id, json!({ "cpu": { "cpus": "99" } }));
        assert_create_refused(&rt, &b, &id, &["cpuset.cpus", "99"]);
    } else {
        skip("rejected cpuset.cpus", "no cpuset controller");
    }
    // a quota below the kernel's 1 ms minimum
    if require("rejected cpu quota", &["cpu"]) {
        let id = unique_id("cgbadquota");
        let b = cg_bundle(&id, json!({ "cpu": { "quota": 500, "period": 100000 } }));
        let file = if is_v2() {
            "cpu.max"
        } else {
            "cpu.cfs_quota_us"
        };
        assert_create_refused(&rt, &b, &id, &[file, "500"]);
    }
    // a blkio throttle on a device that does not exist
    if !require("rejected throttle device", &[io_ctrl()]) {
        return;
    }
    let id = unique_id("cgbaddev");
    let b = cg_bundle(
        &id,
        json!({ "blockIO": { "throttleReadBpsDevice": [ { "major": 259, "minor": 65000, "rate": 1000 } ] } }),
    );
    let file = if is_v2() {
        "io.max"
    } else {
        "blkio.throttle.read_bps_device"
    };
    assert_create_refused(&rt, &b, &id, &[file, "259:65000"]);
}

#[test]
fn rejected_values_hugetlb_size_and_cpu_shares() {
    let rt = Runtime::new();
    // a huge page size the kernel does not have: no such file
    if require("rejected hugetlb size", &["hugetlb"]) {
        let id = unique_id("cgbadhuge");
        let b = cg_bundle(
            &id,
            json!({ "hugepageLimits": [ { "pageSize": "3MB", "limit": 6291456 } ] }),
        );
        if is_runc() && ctrl_mount("hugetlb").as_deref() == Some("unified") {
            skip(
                "rejected hugetlb size",
                "runc 1.1 has no hugetlb on hybrid unified",
            );
        } else {
            assert_create_refused(&rt, &b, &id, &["hugetlb.3MB"]);
        }
    }
    // v1 cpu.shares outside 2..262144: the kernel clamps, the runtime reports it like runc
    if is_v2() {
        skip(
            "rejected cpu.shares",
            "v2 converts shares to a weight (clamped)",
        );
        return;
    }
    if !require("rejected cpu.shares", &["cpu"]) {
        return;
    }
    let id = unique_id("cgbadshares");
    let b = cg_bundle(&id, json!({ "cpu": { "shares": 1 } }));
    assert_create_refused(&rt, &b, &id, &["minimum allowed cpu-shares is 2"]);
    let id = unique_id("cgbadshares2");
    let b = cg_bundle(&id, json!({ "cpu": { "shares": 300000 } }));
    assert_create_refused(&rt, &b, &id, &["maximum allowed cpu-shares is 262144"]);
}
