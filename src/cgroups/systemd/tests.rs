use super::annotations::*;
use super::bus::*;
use super::naming::*;
use super::properties::*;
use crate::cgroups::dbus::Value;
use crate::cgroups::{CgroupState, HostKind};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
    LinuxResourcesBuilder,
};
use std::path::PathBuf;

#[test]
fn slices() {
    assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
    assert_eq!(expand_slice("a-b.slice").unwrap(), "/a.slice/a-b.slice");
    assert_eq!(
        expand_slice("a-b-c.slice").unwrap(),
        "/a.slice/a-b.slice/a-b-c.slice"
    );
    assert_eq!(expand_slice("-.slice").unwrap(), "/");
    for bad in [
        "a",
        ".slice",
        "a--b.slice",
        "-a.slice",
        "a-.slice",
        "a/b.slice",
        "x.scope",
    ] {
        assert!(expand_slice(bad).is_err(), "{bad}");
    }
}

#[test]
fn plans() {
    let p = plan(None, "c1", false).unwrap();
    assert_eq!(p.unit, "hull-c1.scope");
    assert_eq!(p.slice.as_deref(), Some("system.slice"));
    assert_eq!(p.cgroup, "/system.slice/hull-c1.scope");
    assert_eq!(plan(Some(""), "c1", false).unwrap(), p);

    let p = plan(Some("machine-test.slice:docker:abc"), "x", false).unwrap();
    assert_eq!(p.unit, "docker-abc.scope");
    assert_eq!(
        p.cgroup,
        "/machine.slice/machine-test.slice/docker-abc.scope"
    );

    let p = plan(Some(":crio:abc"), "x", false).unwrap();
    assert_eq!(p.cgroup, "/system.slice/crio-abc.scope");

    let p = plan(Some("user.slice::abc"), "x", false).unwrap();
    assert_eq!(p.unit, "abc.scope");
    assert_eq!(p.cgroup, "/user.slice/abc.scope");

    let p = plan(Some("-:p:n"), "x", false).unwrap();
    assert_eq!(p.slice.as_deref(), Some("-.slice"));
    assert_eq!(p.cgroup, "/p-n.scope");

    let p = plan(Some("system.slice:p:pod-x.slice"), "x", false).unwrap();
    assert!(p.is_slice());
    assert_eq!(p.unit, "pod-x.slice");
    assert_eq!(p.cgroup, "/pod.slice/pod-x.slice");

    for bad in [
        "/sys/fs/cgroup/x",
        "a:b",
        "a:b:c:d",
        "bad:p:n",
        "system.slice:p:",
        "system.slice:p:a+b",
    ] {
        assert!(plan(Some(bad), "x", false).is_err(), "{bad}");
    }
    let e = plan(Some("/x"), "id", false).unwrap_err().to_string();
    assert!(e.contains("slice:prefix:name"), "{e}");
}

#[test]
fn versions_and_masks() {
    assert_eq!(parse_version("252.38-1~deb12u1"), 252);
    assert_eq!(parse_version("v256"), 256);
    assert_eq!(parse_version("weird"), 0);
    assert_eq!(cpuset_to_mask("0").unwrap(), vec![1]);
    assert_eq!(cpuset_to_mask("0-3,8").unwrap(), vec![0x0f, 0x01]);
    assert_eq!(cpuset_to_mask("1,3, 5-6").unwrap(), vec![0b0110_1010]);
    assert_eq!(cpuset_to_mask("").unwrap(), Vec::<u8>::new());
    assert!(cpuset_to_mask("3-1").is_err());
    assert!(cpuset_to_mask("x").is_err());
}

#[test]
fn quotas() {
    assert_eq!(quota_per_sec(None, None), None);
    assert_eq!(quota_per_sec(Some(50_000), Some(100_000)), Some(500_000));
    assert_eq!(quota_per_sec(Some(50_000), None), Some(500_000));
    // 1/3 CPU rounds up to whole percents.
    assert_eq!(quota_per_sec(Some(33_333), Some(100_000)), Some(340_000));
    assert_eq!(quota_per_sec(Some(-1), Some(100_000)), Some(u64::MAX));
    assert_eq!(quota_per_sec(None, Some(100_000)), Some(u64::MAX));
}

fn names(p: &[Value]) -> Vec<(String, Value)> {
    p.iter()
        .map(|v| match v {
            Value::Struct(f) => match (&f[0], &f[1]) {
                (Value::Str(n), Value::Variant(v)) => (n.clone(), (**v).clone()),
                _ => panic!(),
            },
            _ => panic!(),
        })
        .collect()
}

#[test]
fn properties_from_resources() {
    let res = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .reservation(32 << 20)
                .swap(128 << 20)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0-1")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(32).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let p = names(&resource_properties(&res, HostKind::V2, 252).unwrap());
    let want = vec![
        ("MemoryMax".to_string(), Value::U64(64 << 20)),
        ("MemoryLow".into(), Value::U64(32 << 20)),
        ("MemorySwapMax".into(), Value::U64(64 << 20)),
        ("CPUWeight".into(), Value::U64(39)),
        ("CPUQuotaPeriodUSec".into(), Value::U64(100_000)),
        ("CPUQuotaPerSecUSec".into(), Value::U64(500_000)),
        (
            "AllowedCPUs".into(),
            Value::Array("y".into(), vec![Value::Byte(3)]),
        ),
        ("TasksMax".into(), Value::U64(32)),
        (
            "IOWeight".into(),
            Value::U64(crate::cgroups::blkio_weight_to_io_weight(500)),
        ),
    ];
    assert_eq!(p, want);
    let p = names(&resource_properties(&res, HostKind::Hybrid, 240).unwrap());
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "MemoryLimit",
            "CPUShares",
            "CPUQuotaPerSecUSec",
            "TasksMax",
            "BlockIOWeight"
        ]
    );
    // Unlimited values become "infinity".
    let res = LinuxResourcesBuilder::default()
        .memory(LinuxMemoryBuilder::default().limit(-1).build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
        .build()
        .unwrap();
    let p = names(&resource_properties(&res, HostKind::V2, 252).unwrap());
    assert_eq!(p[0], ("MemoryMax".into(), Value::U64(u64::MAX)));
    assert_eq!(
        p.last().unwrap(),
        &("TasksMax".into(), Value::U64(u64::MAX))
    );
}

#[test]
fn gvariant_values() {
    assert_eq!(parse_gvariant("uint64 123").unwrap(), Value::U64(123));
    assert_eq!(parse_gvariant("@t 5").unwrap(), Value::U64(5));
    assert_eq!(parse_gvariant(" int32 -4 ").unwrap(), Value::I32(-4));
    assert_eq!(parse_gvariant("true").unwrap(), Value::Bool(true));
    assert_eq!(parse_gvariant("boolean false").unwrap(), Value::Bool(false));
    assert_eq!(
        parse_gvariant("'inactive-or-failed'").unwrap(),
        Value::str("inactive-or-failed")
    );
    assert_eq!(parse_gvariant("\"a\\\"b\"").unwrap(), Value::str("a\"b"));
    assert_eq!(parse_gvariant("string 'x y'").unwrap(), Value::str("x y"));
    assert_eq!(parse_gvariant("42").unwrap(), Value::I32(42));
    assert_eq!(parse_gvariant("1.5").unwrap(), Value::F64(1.5));
    for bad in [
        "uint64 -1",
        "byte 256",
        "'open",
        "[1, 2]",
        "uint64",
        "nonsense",
        "int128 1",
    ] {
        assert!(parse_gvariant(bad).is_err(), "{bad}");
    }
}

#[test]
fn annotations() {
    let a: std::collections::HashMap<String, String> = [
        ("org.systemd.property.TimeoutStopUSec", "uint64 123456789"),
        ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
        ("org.systemd.property.RuntimeMaxSec", "uint64 2"),
        ("io.kubernetes.other", "x"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let p = names(&annotation_properties(&a).unwrap());
    assert_eq!(
        p,
        vec![
            ("CollectMode".into(), Value::str("inactive-or-failed")),
            ("RuntimeMaxUSec".into(), Value::U64(2_000_000)),
            ("TimeoutStopUSec".into(), Value::U64(123_456_789)),
        ]
    );
    let bad = |k: &str, v: &str| {
        let m: std::collections::HashMap<String, String> =
            [(k.to_string(), v.to_string())].into_iter().collect();
        annotation_properties(&m).is_err()
    };
    assert!(bad("org.systemd.property.", "1"));
    assert!(bad("org.systemd.property.A-B", "1"));
    assert!(bad("org.systemd.property.TimeoutStopSec", "'ten'"));
    assert!(bad("org.systemd.property.X", "what"));
}

#[test]
fn unified_keys() {
    let map: std::collections::HashMap<String, String> = [
        ("memory.max", "max"),
        ("memory.high", "1048576"),
        ("cpu.max", "25000 50000"),
        ("pids.max", "10"),
        ("cpuset.cpus", "1"),
        ("io.weight", "default 100"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let p = names(&unified_properties(&map, 252).unwrap());
    let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "CPUQuotaPeriodUSec",
            "CPUQuotaPerSecUSec",
            "AllowedCPUs",
            "MemoryHigh",
            "MemoryMax",
            "TasksMax"
        ]
    );
    assert_eq!(p[1].1, Value::U64(500_000));
    assert_eq!(p[4].1, Value::U64(u64::MAX));
    let p = names(
        &unified_properties(
            &[("cpu.max".to_string(), "max".to_string())]
                .into_iter()
                .collect(),
            252,
        )
        .unwrap(),
    );
    assert_eq!(p, vec![("CPUQuotaPerSecUSec".into(), Value::U64(u64::MAX))]);
    let bad: std::collections::HashMap<String, String> =
        [("memory.max".to_string(), "lots".to_string())]
            .into_iter()
            .collect();
    assert!(unified_properties(&bad, 252).is_err());
}

#[test]
fn devices() {
    use crate::cgroups::DeviceRule;
    let proc_devices =
        "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n";
    assert_eq!(
        device_group_name(proc_devices, 'c', 136).as_deref(),
        Some("pts")
    );
    assert_eq!(
        device_group_name(proc_devices, 'b', 8).as_deref(),
        Some("sd")
    );
    assert_eq!(device_group_name(proc_devices, 'b', 136), None);
    let mut rules = vec![DeviceRule {
        allow: false,
        typ: 'a',
        major: None,
        minor: None,
        access: 7,
    }];
    rules.push(DeviceRule::allow('c', None, None, "m"));
    rules.push(DeviceRule::allow('c', Some(1), Some(3), "rwm"));
    rules.push(DeviceRule::allow('c', Some(136), None, "rwm"));
    rules.push(DeviceRule::allow('b', Some(8), Some(0), "r"));
    rules.push(DeviceRule::allow('c', Some(250), None, "rw")); // unknown major: skipped
    rules.push(DeviceRule::allow('c', None, Some(5), "rwm")); // *:5 must not become char-*
    let p = names(&device_properties(&rules, proc_devices));
    assert_eq!(p[0], ("DevicePolicy".into(), Value::str("strict")));
    let pair = |a: &str, b: &str| Value::Struct(vec![Value::str(a), Value::str(b)]);
    assert_eq!(
        p[1],
        (
            "DeviceAllow".into(),
            Value::Array(
                "(ss)".into(),
                vec![
                    pair("char-*", "m"),
                    pair("/dev/char/1:3", "rwm"),
                    pair("char-pts", "rwm"),
                    pair("/dev/block/8:0", "r"),
                ]
            )
        )
    );
    // Default allow (e.g. a privileged container): systemd is told nothing.
    let all = vec![DeviceRule::allow('a', None, None, "rwm")];
    assert!(device_properties(&all, proc_devices).is_empty());
}

#[test]
fn state_roundtrip_keeps_unit() {
    let st = CgroupState {
        kind: HostKind::V2,
        paths: [(
            String::new(),
            PathBuf::from("/sys/fs/cgroup/system.slice/hull-x.scope"),
        )]
        .into_iter()
        .collect(),
        systemd_unit: Some("hull-x.scope".into()),
        systemd_invocation: Some("0123abcd".into()),
        systemd_user: false,
    };
    let json = serde_json::to_string(&st).unwrap();
    let back: CgroupState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, st);
    let m = crate::cgroups::load_manager(&back).unwrap();
    assert!(m.parent_places());
    assert_eq!(m.state(), st);
    // A state file written before the systemd driver existed still loads.
    let old: CgroupState =
        serde_json::from_str(r#"{"kind":"v2","paths":{"":"/sys/fs/cgroup/x"}}"#).unwrap();
    assert_eq!(old.systemd_unit, None);
    assert!(!serde_json::to_string(&old).unwrap().contains("systemd"));
}
