use super::apply::*;
use super::changes::*;
use super::go_numbers::*;
use super::*;
use oci_spec::runtime::LinuxResources;
use std::collections::HashMap;

fn flags(a: &[&str]) -> Parsed {
    let v: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    parse(&v, FLAGS, Trailing::Interleaved).unwrap()
}

#[test]
fn sizes_like_go_units() {
    assert_eq!(ram_in_bytes("512m").unwrap(), 512 << 20);
    assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
    assert_eq!(ram_in_bytes("1G").unwrap(), 1 << 30);
    assert_eq!(ram_in_bytes("1GiB").unwrap(), 1 << 30);
    assert_eq!(ram_in_bytes("1gb").unwrap(), 1 << 30);
    assert_eq!(ram_in_bytes("1 k").unwrap(), 1024);
    assert_eq!(ram_in_bytes("100").unwrap(), 100);
    assert_eq!(ram_in_bytes("100b").unwrap(), 100);
    assert_eq!(ram_in_bytes("100ib").unwrap(), 100);
    assert_eq!(ram_in_bytes("1.5k").unwrap(), 1536);
    assert_eq!(ram_in_bytes("2t").unwrap(), 2 << 40);
    assert_eq!(ram_in_bytes("1p").unwrap(), 1 << 50);
    assert_eq!(ram_in_bytes("0").unwrap(), 0);
    assert_eq!(ram_in_bytes("99999999p").unwrap(), i64::MIN);
    for bad in [
        "", "1q", "-1", "m", "1.", ".5m", "1  m", "1mm", "1kbb", " 1m", "1m ",
    ] {
        assert_eq!(
            ram_in_bytes(bad).unwrap_err().to_string(),
            format!("invalid size: '{bad}'"),
            "{bad}"
        );
    }
    assert_eq!(
        ram_in_bytes("1.2.3m").unwrap_err().to_string(),
        "strconv.ParseFloat: parsing \"1.2.3\": invalid syntax"
    );
}

#[test]
fn go_ints() {
    assert_eq!(go_parse_uint("123").unwrap(), 123);
    assert!(go_parse_uint("+1").is_err());
    assert!(go_parse_uint("-1").is_err());
    assert_eq!(
        go_parse_uint("x").unwrap_err().to_string(),
        "strconv.ParseUint: parsing \"x\": invalid syntax"
    );
    assert_eq!(
        go_parse_uint("18446744073709551616")
            .unwrap_err()
            .to_string(),
        "strconv.ParseUint: parsing \"18446744073709551616\": value out of range"
    );
    assert_eq!(go_parse_int("-5").unwrap(), -5);
    assert_eq!(go_parse_int("+5").unwrap(), 5);
    assert_eq!(go_parse_int("-9223372036854775808").unwrap(), i64::MIN);
    assert!(go_parse_int("9223372036854775808")
        .unwrap_err()
        .to_string()
        .ends_with("value out of range"));
    assert!(go_parse_int("1_0").is_err());
    assert_eq!(go_parse_int_base0("0x20"), Ok(32));
    assert_eq!(go_parse_int_base0("010"), Ok(8));
    assert_eq!(go_parse_int_base0("0o10"), Ok(8));
    assert_eq!(go_parse_int_base0("0b11"), Ok(3));
    assert_eq!(go_parse_int_base0("-1"), Ok(-1));
    assert_eq!(go_parse_int_base0("0"), Ok(0));
    assert_eq!(go_parse_int_base0("1_000"), Ok(1000));
    assert_eq!(go_parse_int_base0("abc"), Err("parse error"));
    assert_eq!(go_parse_int_base0(""), Err("parse error"));
    assert_eq!(go_parse_int_base0("08"), Err("parse error"));
    assert_eq!(go_parse_int_base0("0x"), Err("parse error"));
    assert_eq!(go_parse_int_base0("1__0"), Err("parse error"));
    assert_eq!(go_parse_int_base0("_1"), Err("parse error"));
    assert_eq!(
        go_parse_int_base0("9223372036854775808"),
        Err("value out of range")
    );
    assert_eq!(go_parse_int_base0("-9223372036854775808"), Ok(i64::MIN));
}

#[test]
fn flags_to_changes() {
    let c = changes_from_flags(&flags(&[
        "--memory",
        "512m",
        "--memory-swap=-1",
        "--cpu-share",
        "512",
        "--cpu-quota",
        "-1",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "0x10",
        "--blkio-weight",
        "65546",
        "id",
    ]))
    .unwrap();
    assert_eq!(c.memory, Some(512 << 20));
    assert_eq!(c.memory_swap, Some(-1));
    assert_eq!(c.cpu_shares, Some(512));
    assert_eq!(c.cpu_quota, Some(-1));
    assert_eq!(c.cpuset_cpus, "0");
    assert_eq!(c.pids_limit, 16);
    assert_eq!(c.blkio_weight, Some(10)); // uint16 truncation, as runc
    assert!(!c.kernel_memory);
    let c = changes_from_flags(&flags(&["--kernel-memory", "1m", "x"])).unwrap();
    assert!(c.kernel_memory);
    let e = changes_from_flags(&flags(&["--memory", "1q", "x"])).unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        "invalid value for memory: invalid size: '1q'"
    );
    let e = changes_from_flags(&flags(&["--cpu-period", "-1", "x"])).unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        "invalid value for cpu-period: strconv.ParseUint: parsing \"-1\": invalid syntax"
    );
    let e = check_int_flags(&flags(&["--pids-limit", "abc", "x"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid value \"abc\" for flag -pids-limit: parse error"
    );
}

#[test]
fn json_to_changes() {
    let c = changes_from_json(
        br#"{"memory":{"limit":1000,"kernel":5},"cpu":{"cpus":"0-1","shares":2},"pids":{"limit":-1},"blockIO":{"weight":300}} trailing"#,
    )
    .unwrap();
    assert_eq!(c.memory, Some(1000));
    assert!(c.kernel_memory);
    assert_eq!(c.cpuset_cpus, "0-1");
    assert_eq!(c.cpu_shares, Some(2));
    assert_eq!(c.pids_limit, -1);
    assert_eq!(c.blkio_weight, Some(300));
    assert_eq!(changes_from_json(b"{}").unwrap(), Changes::default());
    assert_eq!(changes_from_json(b"").unwrap_err().to_string(), "EOF");
    assert_eq!(
        changes_from_json(br#"{"pids":{"limit":77}"#)
            .unwrap_err()
            .to_string(),
        "unexpected EOF"
    );
    assert!(changes_from_json(br#"{"cpu":{"shares":"x"}}"#).is_err());
}

#[test]
fn merging_keeps_what_is_not_changed() {
    let stored: LinuxResources = serde_json::from_str(
        r#"{"devices":[{"allow":false,"access":"rwm"}],
            "memory":{"limit":104857600,"swap":209715200},
            "cpu":{"shares":1024,"cpus":"0"},
            "pids":{"limit":50},
            "unified":{"memory.high":"max"}}"#,
    )
    .unwrap();
    let c = Changes {
        memory: Some(200 << 20),
        cpu_quota: Some(50000),
        ..Default::default()
    };
    let (store, apply) = merge(&stored, &c).unwrap();
    let m = store.memory().as_ref().unwrap();
    assert_eq!(m.limit(), Some(200 << 20));
    assert_eq!(m.swap(), Some(209715200));
    let cpu = store.cpu().as_ref().unwrap();
    assert_eq!(cpu.shares(), Some(1024));
    assert_eq!(cpu.quota(), Some(50000));
    assert_eq!(cpu.cpus().as_deref(), Some("0"));
    assert_eq!(store.pids().as_ref().unwrap().limit(), 50);
    assert_eq!(store.devices().as_ref().unwrap().len(), 1);
    assert!(store.unified().is_some());
    // Applied: never the devices, and no stored unified values.
    assert!(apply.devices().is_none());
    assert!(apply.unified().is_none());
    assert_eq!(apply.memory().as_ref().unwrap().limit(), Some(200 << 20));
    // ... and only what this update names: not the stored swap, shares, cpus or pids
    assert_eq!(apply.memory().as_ref().unwrap().swap(), None);
    let acpu = apply.cpu().as_ref().unwrap();
    assert_eq!(
        (acpu.quota(), acpu.shares(), acpu.cpus().as_deref()),
        (Some(50000), None, None)
    );
    assert!(apply.pids().is_none());

    // memory -1 without swap: swap unlimited too; pids 0 keeps the stored limit.
    let c = Changes {
        memory: Some(-1),
        ..Default::default()
    };
    let (store, _) = merge(&stored, &c).unwrap();
    assert_eq!(store.memory().as_ref().unwrap().swap(), Some(-1));
    assert_eq!(store.pids().as_ref().unwrap().limit(), 50);
    let c = Changes {
        pids_limit: -1,
        unified: Some(HashMap::from([("pids.max".into(), "9".into())])),
        ..Default::default()
    };
    let (store, apply) = merge(&stored, &c).unwrap();
    assert_eq!(store.pids().as_ref().unwrap().limit(), -1);
    assert_eq!(store.unified().as_ref().unwrap().len(), 2);
    assert_eq!(apply.unified().as_ref().unwrap().len(), 1);
    // Nothing stored: the changes alone.
    let c = Changes {
        cpu_shares: Some(2),
        blkio_weight: Some(500),
        ..Default::default()
    };
    let (store, _) = merge(&LinuxResources::default(), &c).unwrap();
    assert_eq!(store.cpu().as_ref().unwrap().shares(), Some(2));
    assert_eq!(store.block_io().as_ref().unwrap().weight(), Some(500));
}

#[test]
fn device_rules_are_parsed_but_not_merged_into_the_config() {
    let stored: LinuxResources =
        serde_json::from_str(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#).unwrap();
    let c = changes_from_json(
        br#"{"devices":[{"allow":false,"type":"c","major":1,"minor":5,"access":"rwm"}]}"#,
    )
    .unwrap();
    let d = c.devices.as_ref().unwrap();
    assert_eq!(
        (d[0].major(), d[0].minor(), d[0].allow()),
        (Some(1), Some(5), false)
    );
    // They are kept beside the config (after the runtime's defaults), not in it.
    let (store, apply) = merge(&stored, &c).unwrap();
    assert_eq!(store.devices().as_ref().unwrap().len(), 1);
    assert!(apply.devices().is_none());
    let c = changes_from_json(br#"{"memory":{"limit":1048576}}"#).unwrap();
    assert!(c.devices.is_none());
}
