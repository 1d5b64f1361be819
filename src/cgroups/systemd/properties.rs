//! linux.resources as systemd unit properties (memory, CPU, cpuset, tasks, IO, the
//! `unified` keys systemd manages, device rules), so that systemd re-applying a unit keeps
//! the container's values.

use crate::cgroups::dbus::Value;
use crate::cgroups::{DeviceRule, HostKind};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;

/// A cpuset list ("0-3,8") as systemd's AllowedCPUs/AllowedMemoryNodes byte mask (bit i of
/// byte j is CPU 8j+i).
pub fn cpuset_to_mask(list: &str) -> Result<Vec<u8>> {
    let mut mask: Vec<u8> = Vec::new();
    let bad = || format!("invalid cpuset list {list:?}");
    for part in list.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: usize = a.trim().parse().with_context(bad)?;
        let b: usize = b.trim().parse().with_context(bad)?;
        if a > b || b >= 1 << 16 {
            bail!("{}", bad());
        }
        for i in a..=b {
            if mask.len() <= i / 8 {
                mask.resize(i / 8 + 1, 0);
            }
            mask[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(mask)
}

pub(super) fn prop(name: &str, v: Value) -> Value {
    Value::Struct(vec![Value::str(name), Value::var(v)])
}

/// runc's conversion of a CFS quota/period into CPUQuotaPerSecUSec (rounded up to whole
/// percents, because systemd stores a percentage). None when neither is set.
pub fn quota_per_sec(quota: Option<i64>, period: Option<u64>) -> Option<u64> {
    let q = quota.unwrap_or(0);
    let p = period.unwrap_or(0);
    if q == 0 && p == 0 {
        return None;
    }
    if q <= 0 {
        return Some(u64::MAX);
    }
    let p = if p == 0 { 100_000 } else { p };
    let mut per_sec = (q as u64).saturating_mul(1_000_000) / p;
    if !per_sec.is_multiple_of(10_000) {
        per_sec = (per_sec / 10_000 + 1) * 10_000;
    }
    Some(per_sec)
}

/// The unit properties systemd understands for `res` (the rest is written through cgroupfs).
pub fn resource_properties(
    res: &LinuxResources,
    kind: HostKind,
    version: u32,
) -> Result<Vec<Value>> {
    let v2 = kind == HostKind::V2;
    let mut p = Vec::new();
    let limit = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    if let Some(m) = res.memory() {
        let mem = m.limit().unwrap_or(0);
        if mem != 0 {
            p.push(prop(
                if v2 { "MemoryMax" } else { "MemoryLimit" },
                Value::U64(limit(mem)),
            ));
        }
        if v2 {
            if let Some(r) = m.reservation().filter(|&r| r != 0) {
                p.push(prop("MemoryLow", Value::U64(limit(r))));
            }
            let swap = crate::cgroups::swap_to_v2(m.swap().unwrap_or(0), mem)?;
            if swap != 0 {
                p.push(prop("MemorySwapMax", Value::U64(limit(swap))));
            }
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            if v2 {
                p.push(prop(
                    "CPUWeight",
                    Value::U64(crate::cgroups::shares_to_weight(s)),
                ));
            } else {
                p.push(prop("CPUShares", Value::U64(s)));
            }
        }
        if let Some(period) = c.period().filter(|&p| p != 0) {
            if version >= 242 {
                p.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
            }
        }
        // The rate uses the real period even where systemd cannot be told the period itself.
        if let Some(q) = quota_per_sec(c.quota(), c.period()) {
            p.push(prop("CPUQuotaPerSecUSec", Value::U64(q)));
        }
        // systemd only manages cpuset on the unified hierarchy (and from v244 on).
        if v2 && version >= 244 {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.trim().is_empty()) {
                let m = cpuset_to_mask(cpus)?;
                p.push(prop(
                    "AllowedCPUs",
                    Value::Array("y".into(), m.into_iter().map(Value::Byte).collect()),
                ));
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.trim().is_empty()) {
                let m = cpuset_to_mask(mems)?;
                p.push(prop(
                    "AllowedMemoryNodes",
                    Value::Array("y".into(), m.into_iter().map(Value::Byte).collect()),
                ));
            }
        }
    }
    if let Some(pids) = res.pids() {
        // 0 is 1, as in cgroupfs (see v2::pids_max).
        let l = if pids.limit() == 0 { 1 } else { pids.limit() };
        p.push(prop("TasksMax", Value::U64(limit(l))));
    }
    if !v2 {
        if let Some(list) = res.devices() {
            let rules = crate::cgroups::devices::rules_from_oci(list)?;
            let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
            p.extend(device_properties(&rules, &proc_devices));
        }
    }
    if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
        if w != 0 {
            if v2 {
                p.push(prop(
                    "IOWeight",
                    Value::U64(crate::cgroups::blkio_weight_to_io_weight(w as u64)),
                ));
            } else {
                p.push(prop("BlockIOWeight", Value::U64(w as u64)));
            }
        }
    }
    if v2 {
        if let Some(map) = res.unified() {
            p.extend(unified_properties(map, version)?);
        }
    }
    Ok(p)
}

/// linux.resources.unified entries systemd also manages, as unit properties (like runc), so
/// that systemd re-applying the unit's settings does not undo them. Other keys are left to
/// cgroupfs alone.
pub fn unified_properties(
    map: &std::collections::HashMap<String, String>,
    version: u32,
) -> Result<Vec<Value>> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let mut p = Vec::new();
    let num_or_max = |k: &str, v: &str| -> Result<u64> {
        let v = v.trim();
        if v == "max" {
            return Ok(u64::MAX);
        }
        v.parse::<u64>()
            .with_context(|| format!("unified {k}: invalid value {v:?}"))
    };
    for k in keys {
        let v = map[k].trim();
        match k.as_str() {
            "cpu.weight" => p.push(prop("CPUWeight", Value::U64(num_or_max(k, v)?))),
            "cpu.max" => {
                let mut f = v.split_whitespace();
                let quota = f.next().unwrap_or("max");
                let period = match f.next() {
                    Some(x) => Some(num_or_max(k, x)?),
                    None => None,
                };
                if let Some(per) = period.filter(|_| version >= 242) {
                    p.push(prop("CPUQuotaPeriodUSec", Value::U64(per)));
                }
                let q = if quota == "max" {
                    -1
                } else {
                    num_or_max(k, quota)? as i64
                };
                if let Some(qps) = quota_per_sec(Some(q), period.or(Some(100_000))) {
                    p.push(prop("CPUQuotaPerSecUSec", Value::U64(qps)));
                }
            }
            "cpuset.cpus" | "cpuset.mems" if version >= 244 => {
                let name = if k == "cpuset.cpus" {
                    "AllowedCPUs"
                } else {
                    "AllowedMemoryNodes"
                };
                let m = cpuset_to_mask(v)?;
                p.push(prop(
                    name,
                    Value::Array("y".into(), m.into_iter().map(Value::Byte).collect()),
                ));
            }
            "memory.min" | "memory.low" | "memory.high" | "memory.max" | "memory.swap.max" => {
                let name = match k.as_str() {
                    "memory.min" => "MemoryMin",
                    "memory.low" => "MemoryLow",
                    "memory.high" => "MemoryHigh",
                    "memory.max" => "MemoryMax",
                    _ => "MemorySwapMax",
                };
                p.push(prop(name, Value::U64(num_or_max(k, v)?)));
            }
            "pids.max" => p.push(prop("TasksMax", Value::U64(num_or_max(k, v)?))),
            _ => {}
        }
    }
    Ok(p)
}

/// The name /proc/devices gives to `major` of type 'c' or 'b' (systemd's "char-<name>").
pub(super) fn device_group_name(proc_devices: &str, typ: char, major: i64) -> Option<String> {
    let section = if typ == 'b' {
        "Block devices:"
    } else {
        "Character devices:"
    };
    let mut inside = false;
    for line in proc_devices.lines() {
        let line = line.trim();
        if line.ends_with("devices:") {
            inside = line == section;
            continue;
        }
        if !inside {
            continue;
        }
        let mut f = line.split_whitespace();
        if let (Some(m), Some(name)) = (f.next(), f.next()) {
            if m.parse::<i64>().ok() == Some(major) {
                return Some(name.to_string());
            }
        }
    }
    None
}

/// The device rules as DevicePolicy=/DeviceAllow= (runc does the same): systemd only knows
/// allow lists, so a default-allow rule set leaves the policy at "auto" (no restriction from
/// systemd; cgroupfs writes the deny rules). Needed on cgroup v1, where systemd rewrites
/// devices.allow/deny whenever it re-applies the unit's settings ("a" with no DeviceAllow=).
pub fn device_properties(rules: &[DeviceRule], proc_devices: &str) -> Vec<Value> {
    let e = crate::cgroups::devices::Emulator::from_rules(rules);
    if e.default_allow {
        return Vec::new();
    }
    let mut allow = Vec::new();
    for (typ, major, minor, access) in &e.exceptions {
        let kind = match typ {
            'c' => "char",
            'b' => "block",
            _ => continue,
        };
        let spec = match (major, minor) {
            (None, None) => format!("{kind}-*"),
            (None, Some(mi)) => {
                // "*:minor" has no systemd form; "char-*" would allow every device.
                crate::logging::warn(&format!(
                    "systemd: device rule {typ} *:{mi} has no systemd form: set through cgroupfs only"
                ));
                continue;
            }
            (Some(ma), None) => match device_group_name(proc_devices, *typ, *ma) {
                Some(name) => format!("{kind}-{name}"),
                None => {
                    crate::logging::warn(&format!(
                        "systemd: no /proc/devices name for {typ} {ma}:*: set through cgroupfs only (systemd would deny it if it re-applied the unit's device list)"
                    ));
                    continue;
                }
            },
            (Some(ma), Some(mi)) => format!("/dev/{kind}/{ma}:{mi}"),
        };
        allow.push(Value::Struct(vec![
            Value::str(spec),
            Value::str(crate::cgroups::devices::access_string(*access)),
        ]));
    }
    vec![
        prop("DevicePolicy", Value::str("strict")),
        prop("DeviceAllow", Value::Array("(ss)".into(), allow)),
    ]
}
