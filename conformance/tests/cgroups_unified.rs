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
        CgroupKind::V1 | CgroupKind::Hybrid => {
            // runc's rule: see cgroups_edge::unified_on_a_v1_host_is_invalid_configuration
            skip("unified", "unified resources need a pure cgroup v2 host");
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
            let c = Container::started(&rt, &b, &id);
            let v = View::new(&c, &test_cgroups_path(&id));
            for (ctrl, k, val) in &kv {
                v.expect(ctrl, k, val);
            }
        }
    }
}

#[test]
fn unified_unknown_key_is_refused() {
    if kind() != CgroupKind::V2 {
        skip(
            "unified unknown key",
            "unified resources need a pure cgroup v2 host",
        );
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("cgunibad");
    let b = cg_bundle(&id, json!({ "unified": { "nosuchctl.max": "1" } }));
    assert_create_refused(&rt, &b, &id, &["nosuchctl.max"]);
    // a value the kernel refuses: the error names the key
    let id2 = unique_id("cgunibad2");
    let key = "cgroup.max.descendants";
    let b2 = cg_bundle(&id2, json!({ "unified": { key: "-5" } }));
    assert_create_refused(&rt, &b2, &id2, &[key]);
}

// ---------------------------------------------------------------------------
// values the kernel rejects
// ---------------------------------------------------------------------------

#[test]
fn rejected_values_name_file_and_value() {
    // crun 1.28 bug: after each refusal it leaves the container's cgroup directories in every
    // v1 hierarchy (its words name the file, not the value: "write to `cpuset.cpus`: ...").
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
    // (runc's check; crun 1.28 lets the kernel clamp and runs: conformance/peers)
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
