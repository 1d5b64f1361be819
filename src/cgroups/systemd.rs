//! The systemd cgroup driver (`hull --systemd-cgroup`), following runc's rules.
//!
//! - `linux.cgroupsPath` is "slice:prefix:name". An empty slice means "system.slice", "-" the
//!   root slice; a nested slice "a-b.slice" lives at /a.slice/a-b.slice. The unit is
//!   "<prefix>-<name>.scope" ("<name>.scope" with an empty prefix), or `name` itself when it
//!   ends in ".slice" (then a slice unit is created and the init joins it through cgroupfs).
//!   No cgroupsPath means "system.slice:hull:<id>" (runc uses the prefix "runc").
//! - The scope can only be started once the init exists (systemd wants its pid), so this
//!   manager asks the parent to place the init ([`Manager::parent_places`]): the init waits
//!   while the parent calls `StartTransientUnit(unit, "replace", props, [])` with
//!   PIDs=[init], Delegate=yes, Slice=, DefaultDependencies=no and the resource properties
//!   systemd knows (memory, CPU weight/quota, cpuset, tasks, IO weight), waits for the job's
//!   `JobRemoved` signal, and then applies the full resources through the cgroupfs manager
//!   (v2 or v1/hybrid) on the scope's directory, as runc does.
//!   Also passed as properties, so that systemd re-applying the unit (daemon-reload,
//!   set-property) keeps hull's values: linux.resources.unified keys systemd manages, and on
//!   cgroup v1 the device rules (DevicePolicy=strict + DeviceAllow=). Annotations
//!   "org.systemd.property.<Name>" add properties of the user's choice, as in runc.
//! - Everything else (freeze, stats, pids, exec joining) works on the scope's directory
//!   through cgroupfs; `update` sends SetUnitProperties and writes cgroupfs; destroy stops the
//!   unit (`StopUnit` + job wait) and removes what is left.
//! - D-Bus: the private socket /run/systemd/private as root, else the system bus
//!   ([`super::dbus`]); HULL_SYSTEMD_BUS=1 forces the bus.

use super::dbus::{self, Conn, Message, Value};
use super::{v1, v2, CgroupState, HostKind, Manager, Stats, CGROUP_ROOT};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DEST: &str = "org.freedesktop.systemd1";
const OBJ: &str = "/org/freedesktop/systemd1";
const IFACE: &str = "org.freedesktop.systemd1.Manager";
/// systemd's private peer-to-peer socket (root only).
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The system bus socket (used when the private socket cannot be used).
pub const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
const CALL_TIMEOUT: Duration = Duration::from_secs(25);
/// How long one StopUnit attempt waits for its reply before retrying on a new connection.
const STOP_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a start/stop job may take (runc waits 30 s too).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);
/// The default unit prefix when linux.cgroupsPath is empty (runc uses "runc").
pub const DEFAULT_PREFIX: &str = "hull";

/// Whether systemd runs as the init system (runc checks the same directory).
pub fn is_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// runc's ExpandSlice: "a-b.slice" → "/a.slice/a-b.slice", "-.slice" → "/".
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || format!("invalid systemd slice name {slice:?}");
    let Some(stem) = slice.strip_suffix(".slice") else {
        bail!("{}: it must end in \".slice\"", bad());
    };
    if slice.contains('/') {
        bail!("{}: it must not contain '/'", bad());
    }
    if stem == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for comp in stem.split('-') {
        if comp.is_empty() {
            bail!("{}: empty component between '-'", bad());
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(comp);
        path.push_str(".slice");
        prefix.push_str(comp);
        prefix.push('-');
    }
    Ok(path)
}

fn valid_unit_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

/// Where and what the container's unit is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitPlan {
    /// The unit name ("hull-<id>.scope" or "<name>.slice").
    pub unit: String,
    /// For a scope: the slice it goes into (its Slice= property).
    pub slice: Option<String>,
    /// The unit's cgroup path below the hierarchy root ("/system.slice/hull-x.scope").
    pub cgroup: String,
}

impl UnitPlan {
    pub fn is_slice(&self) -> bool {
        self.slice.is_none()
    }
}

/// Parses linux.cgroupsPath the way runc's systemd driver does.
pub fn plan(cgroups_path: Option<&str>, id: &str) -> Result<UnitPlan> {
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => ("", DEFAULT_PREFIX, id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            if parts.len() != 3 {
                bail!(
                    "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {p:?} instead"
                );
            }
            (parts[0], parts[1], parts[2])
        }
    };
    if name.is_empty() {
        bail!("invalid cgroupsPath {cgroups_path:?}: the unit name part is empty");
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else if slice == "-" {
        "-.slice"
    } else {
        slice
    };
    let plan = if name.ends_with(".slice") {
        UnitPlan {
            unit: name.to_string(),
            slice: None,
            cgroup: expand_slice(name)?,
        }
    } else {
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        let parent = expand_slice(slice)?;
        let cgroup = if parent == "/" {
            format!("/{unit}")
        } else {
            format!("{parent}/{unit}")
        };
        UnitPlan {
            unit,
            slice: Some(slice.to_string()),
            cgroup,
        }
    };
    if !valid_unit_name(&plan.unit) {
        bail!(
            "invalid systemd unit name {:?}: only letters, digits and \":-_.\\@\" are allowed",
            plan.unit
        );
    }
    Ok(plan)
}

/// The leading number of systemd's Version property ("252.38-1~deb12u1" → 252).
pub fn parse_version(v: &str) -> u32 {
    let v = v.trim().trim_start_matches('v');
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}

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

fn prop(name: &str, v: Value) -> Value {
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
            let swap = super::swap_to_v2(m.swap().unwrap_or(0), mem)?;
            if swap != 0 {
                p.push(prop("MemorySwapMax", Value::U64(limit(swap))));
            }
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            if v2 {
                p.push(prop("CPUWeight", Value::U64(super::shares_to_weight(s))));
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
        let l = pids.limit();
        if l != 0 {
            p.push(prop("TasksMax", Value::U64(limit(l))));
        }
    }
    if !v2 {
        if let Some(list) = res.devices() {
            let rules = super::devices::rules_from_oci(list)?;
            let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
            p.extend(device_properties(&rules, &proc_devices));
        }
    }
    if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
        if w != 0 {
            if v2 {
                p.push(prop(
                    "IOWeight",
                    Value::U64(super::blkio_weight_to_io_weight(w as u64)),
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

/// Prefix of the annotations that become unit properties (as in runc).
pub const PROPERTY_ANNOTATION: &str = "org.systemd.property.";

/// Parses an annotation value in the subset of the GVariant text format runc documents:
/// "uint64 123" (also uint32, int64, int32, uint16, int16, byte, double, boolean, string
/// prefixes, or "@t 123"), true/false, 'text' or "text", a bare integer (int32) or a bare
/// floating point number (double).
pub fn parse_gvariant(text: &str) -> Result<Value> {
    let t = text.trim();
    let bad = || {
        format!(
            "unsupported property value {text:?} (use e.g. \"uint64 123\", \"true\", \"'text'\")"
        )
    };
    let (ty, rest) = match t.split_once(char::is_whitespace) {
        Some((a, b))
            if a.starts_with('@')
                || (a.starts_with(|c: char| c.is_ascii_lowercase())
                    && a.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())) =>
        {
            (Some(a), b.trim())
        }
        _ => (None, t),
    };
    let int = |s: &str| s.parse::<i128>().with_context(bad);
    let ranged = |v: i128, lo: i128, hi: i128| -> Result<i128> {
        if v < lo || v > hi {
            bail!("{}: out of range", bad());
        }
        Ok(v)
    };
    Ok(match ty {
        Some("uint64" | "@t") => Value::U64(ranged(int(rest)?, 0, u64::MAX as i128)? as u64),
        Some("int64" | "@x") => {
            Value::I64(ranged(int(rest)?, i64::MIN as i128, i64::MAX as i128)? as i64)
        }
        Some("uint32" | "@u") => Value::U32(ranged(int(rest)?, 0, u32::MAX as i128)? as u32),
        Some("int32" | "@i") => {
            Value::I32(ranged(int(rest)?, i32::MIN as i128, i32::MAX as i128)? as i32)
        }
        Some("uint16" | "@q") => Value::U16(ranged(int(rest)?, 0, u16::MAX as i128)? as u16),
        Some("int16" | "@n") => {
            Value::I16(ranged(int(rest)?, i16::MIN as i128, i16::MAX as i128)? as i16)
        }
        Some("byte" | "@y") => Value::Byte(ranged(int(rest)?, 0, 255)? as u8),
        Some("double" | "@d") => Value::F64(rest.parse().with_context(bad)?),
        Some("boolean" | "@b") => match rest {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => bail!("{}", bad()),
        },
        Some("string" | "@s") => parse_gvariant_string(rest).with_context(bad)?,
        Some(_) => bail!("{}", bad()),
        None => match t {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ if t.starts_with('\'') || t.starts_with('"') => {
                parse_gvariant_string(t).with_context(bad)?
            }
            _ if t.contains('.') || t.contains('e') => Value::F64(t.parse().with_context(bad)?),
            _ => Value::I32(ranged(int(t)?, i32::MIN as i128, i32::MAX as i128)? as i32),
        },
    })
}

fn parse_gvariant_string(t: &str) -> Result<Value> {
    let q = t.chars().next().context("empty string value")?;
    if !(q == '\'' || q == '"') || t.len() < 2 || !t.ends_with(q) {
        bail!("not a quoted string");
    }
    let mut out = String::new();
    let mut esc = false;
    for c in t[1..t.len() - 1].chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == q {
            bail!("unescaped quote inside the string");
        } else {
            out.push(c);
        }
    }
    Ok(Value::Str(out))
}

/// Unit properties from "org.systemd.property.<Name>" annotations. A name ending in "Sec"
/// (not "USec") takes seconds and becomes "<Name>USec" in microseconds, as runc does.
pub fn annotation_properties(
    annotations: &std::collections::HashMap<String, String>,
) -> Result<Vec<Value>> {
    let mut keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.starts_with(PROPERTY_ANNOTATION))
        .collect();
    keys.sort();
    let mut p = Vec::new();
    for k in keys {
        let name = &k[PROPERTY_ANNOTATION.len()..];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            bail!("annotation {k:?}: invalid systemd property name {name:?}");
        }
        let v = parse_gvariant(&annotations[k]).with_context(|| format!("annotation {k:?}"))?;
        if let Some(stem) = name.strip_suffix("Sec").filter(|_| !name.ends_with("USec")) {
            let secs = match v {
                Value::U64(x) => x as f64,
                Value::I64(x) => x as f64,
                Value::U32(x) => x as f64,
                Value::I32(x) => x as f64,
                Value::U16(x) => x as f64,
                Value::I16(x) => x as f64,
                Value::Byte(x) => x as f64,
                Value::F64(x) => x,
                _ => bail!("annotation {k:?}: a time in seconds must be a number"),
            };
            if !(0.0..=(u64::MAX / 1_000_000) as f64).contains(&secs) {
                bail!("annotation {k:?}: {secs} seconds is out of range");
            }
            p.push(prop(
                &format!("{stem}USec"),
                Value::U64((secs * 1e6) as u64),
            ));
        } else {
            p.push(prop(name, v));
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
fn device_group_name(proc_devices: &str, typ: char, major: i64) -> Option<String> {
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
pub fn device_properties(rules: &[super::DeviceRule], proc_devices: &str) -> Vec<Value> {
    let e = super::devices::Emulator::from_rules(rules);
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
            Value::str(super::devices::access_string(*access)),
        ]));
    }
    vec![
        prop("DevicePolicy", Value::str("strict")),
        prop("DeviceAllow", Value::Array("(ss)".into(), allow)),
    ]
}

/// A connection to systemd's manager object.
pub struct Systemd {
    conn: Conn,
    /// Per-call reply timeout.
    timeout: Duration,
    /// On the system bus: systemd's unique bus name. Only signals from it count (any local
    /// client could send a forged JobRemoved); None on the private peer-to-peer socket.
    systemd_name: Option<String>,
}

impl Systemd {
    /// Connects over the private socket when root (like runc), else — or when that fails, or
    /// when HULL_SYSTEMD_BUS=1 — over the system bus (with Hello, a match rule for JobRemoved
    /// and systemd's Subscribe so that it emits job signals).
    pub fn connect() -> Result<Systemd> {
        let mut errors = Vec::new();
        let force_bus = std::env::var_os("HULL_SYSTEMD_BUS").is_some_and(|v| v == "1");
        let private = Path::new(PRIVATE_SOCKET);
        if !force_bus && unsafe { libc::geteuid() } == 0 && private.exists() {
            match Conn::connect(private, false, CALL_TIMEOUT) {
                Ok(conn) => {
                    return Ok(Systemd {
                        conn,
                        timeout: CALL_TIMEOUT,
                        systemd_name: None,
                    })
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        let bus = std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
            .ok()
            .and_then(|a| {
                a.split(';')
                    .filter_map(|t| t.strip_prefix("unix:"))
                    .flat_map(|t| t.split(','))
                    .find_map(|kv| kv.strip_prefix("path=").map(PathBuf::from))
            })
            .unwrap_or_else(|| PathBuf::from(SYSTEM_BUS));
        match Self::connect_bus(&bus) {
            Ok(s) => Ok(s),
            Err(e) => {
                errors.push(format!("{e:#}"));
                bail!("cannot connect to systemd: {}", errors.join("; "))
            }
        }
    }

    fn connect_bus(path: &Path) -> Result<Systemd> {
        let mut conn = Conn::connect(path, true, CALL_TIMEOUT)?;
        conn.call(
            Message::method_call(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "AddMatch",
                &[Value::str(
                    "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.systemd1.Manager',member='JobRemoved',path='/org/freedesktop/systemd1'",
                )],
            )?,
            CALL_TIMEOUT,
        )
        .context("D-Bus AddMatch")?;
        let owner = conn
            .call(
                Message::method_call(
                    Some("org.freedesktop.DBus"),
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus",
                    "GetNameOwner",
                    &[Value::str(DEST)],
                )?,
                CALL_TIMEOUT,
            )
            .context("D-Bus GetNameOwner")?;
        let systemd_name = owner
            .first()
            .and_then(Value::as_str)
            .map(str::to_string)
            .context("GetNameOwner returned no name")?;
        let mut s = Systemd {
            conn,
            timeout: CALL_TIMEOUT,
            systemd_name: Some(systemd_name),
        };
        s.call("Subscribe", &[])?;
        Ok(s)
    }

    fn call(&mut self, member: &str, args: &[Value]) -> Result<Vec<Value>> {
        let m = Message::method_call(Some(DEST), OBJ, IFACE, member, args)?;
        self.conn
            .call(m, self.timeout)
            .with_context(|| format!("systemd {member}"))
    }

    /// systemd's major version (0 if unknown).
    pub fn version(&mut self) -> Result<u32> {
        let m = Message::method_call(
            Some(DEST),
            OBJ,
            "org.freedesktop.DBus.Properties",
            "Get",
            &[Value::str(IFACE), Value::str("Version")],
        )?;
        let r = self
            .conn
            .call(m, CALL_TIMEOUT)
            .context("reading systemd's version")?;
        Ok(match r.first() {
            Some(Value::Variant(v)) => v.as_str().map(parse_version).unwrap_or(0),
            _ => 0,
        })
    }

    /// The unit's current InvocationID as hex, or None when no such unit is loaded.
    pub fn invocation_id(&mut self, unit: &str) -> Result<Option<String>> {
        let path = match self.call("GetUnit", &[Value::str(unit)]) {
            Ok(r) => match r.first().and_then(Value::as_str) {
                Some(p) => p.to_string(),
                None => return Ok(None),
            },
            Err(e) if dbus::error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let m = Message::method_call(
            Some(DEST),
            &path,
            "org.freedesktop.DBus.Properties",
            "Get",
            &[
                Value::str("org.freedesktop.systemd1.Unit"),
                Value::str("InvocationID"),
            ],
        )?;
        let r = self
            .conn
            .call(m, self.timeout)
            .context("reading the unit's InvocationID")?;
        let bytes = match r.first() {
            Some(Value::Variant(v)) => match v.as_ref() {
                Value::Array(_, items) => items
                    .iter()
                    .filter_map(|b| match b {
                        Value::Byte(b) => Some(*b),
                        _ => None,
                    })
                    .collect::<Vec<u8>>(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        Ok(Some(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Waits for the JobRemoved signal of `job`; returns the job's result ("done", "failed",
    /// "canceled", ...).
    fn wait_job_result(&mut self, job: &str, unit: &str, what: &str) -> Result<String> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let from = self.systemd_name.clone();
        let sig = self
            .conn
            .wait_signal(deadline, |m| {
                (from.is_none() || m.sender == from)
                    && m.member.as_deref() == Some("JobRemoved")
                    && m.interface.as_deref() == Some(IFACE)
                    && m.args()
                        .ok()
                        .and_then(|a| a.get(1).and_then(|v| v.as_str().map(|s| s == job)))
                        .unwrap_or(false)
            })
            .with_context(|| format!("waiting for systemd to {what} unit {unit}"))?;
        let args = sig.args()?;
        Ok(args
            .get(3)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }

    fn wait_job(&mut self, job: &str, unit: &str, what: &str) -> Result<()> {
        let result = self.wait_job_result(job, unit, what)?;
        if result != "done" {
            bail!("systemd failed to {what} unit {unit}: job result {result:?} (see `journalctl -u {unit}`)");
        }
        Ok(())
    }

    /// StartTransientUnit + wait for the job. A unit of that name left over in the failed
    /// state is reset once and the start retried.
    pub fn start_transient_unit(&mut self, unit: &str, props: Vec<Value>) -> Result<()> {
        let args = [
            Value::str(unit),
            Value::str("replace"),
            Value::Array("(sv)".into(), props),
            Value::Array("(sa(sv))".into(), vec![]),
        ];
        let mut r = self.call("StartTransientUnit", &args);
        if let Err(e) = &r {
            if dbus::error_name(e) == Some("org.freedesktop.systemd1.UnitExists") {
                let _ = self.call("ResetFailedUnit", &[Value::str(unit)]);
                r = self.call("StartTransientUnit", &args);
            }
        }
        let r = r.with_context(|| format!("creating systemd unit {unit}"))?;
        let job = r
            .first()
            .and_then(Value::as_str)
            .context("StartTransientUnit returned no job")?
            .to_string();
        if let Err(e) = self.wait_job(&job, unit, "start") {
            // The unit is ours (our job made it): don't leave it active or failed behind.
            let _ = self.call("StopUnit", &[Value::str(unit), Value::str("replace")]);
            let _ = self.call("ResetFailedUnit", &[Value::str(unit)]);
            return Err(e);
        }
        Ok(())
    }

    /// StopUnit + wait, retried on a new connection when systemd does not answer (systemd 252
    /// sometimes drops the reply when the call races with the garbage collection of the
    /// just-emptied scope). A unit that is not loaded (any more) is not an error.
    pub fn stop_unit_retrying(unit: &str) -> Result<()> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r = Systemd::connect().and_then(|mut sd| {
                sd.timeout = STOP_ATTEMPT_TIMEOUT;
                sd.stop_unit(unit)
            });
            match r {
                Ok(()) => return Ok(()),
                Err(e) if dbus::error_name(&e).is_none() && Instant::now() < deadline => {
                    crate::logging::debug(&format!(
                        "stopping systemd unit {unit} (attempt {attempt}): {e:#}; retrying"
                    ));
                    std::thread::sleep(Duration::from_millis(50 * attempt.min(10)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// StopUnit + wait. A unit that is not loaded (any more) is not an error.
    pub fn stop_unit(&mut self, unit: &str) -> Result<()> {
        let r = match self.call("StopUnit", &[Value::str(unit), Value::str("replace")]) {
            Ok(r) => r,
            Err(e) if dbus::error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        let job = r
            .first()
            .and_then(Value::as_str)
            .context("StopUnit returned no job")?
            .to_string();
        let result = self.wait_job_result(&job, unit, "stop")?;
        if result != "done" {
            // As runc: the unit is going away either way; say so and carry on.
            crate::logging::warn(&format!("systemd stop job of unit {unit} ended {result:?}"));
        }
        // A scope whose processes were killed may end up "failed": drop that record.
        let _ = self.call("ResetFailedUnit", &[Value::str(unit)]);
        Ok(())
    }

    /// SetUnitProperties(unit, runtime=true, props).
    pub fn set_unit_properties(&mut self, unit: &str, props: Vec<Value>) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        self.call(
            "SetUnitProperties",
            &[
                Value::str(unit),
                Value::Bool(true),
                Value::Array("(sv)".into(), props),
            ],
        )
        .map(|_| ())
    }
}

/// Who has a unit's name at the moment (see [`SystemdManager::owner`]).
#[derive(PartialEq)]
enum UnitOwner {
    /// The invocation this container started.
    Us,
    /// No unit of that name is loaded (systemd collected ours).
    Nobody,
    /// Another invocation, maybe another container's.
    Other,
}

/// The container's cgroup managed by systemd: a transient scope (or slice) unit, plus the
/// cgroupfs manager for its directory.
pub struct SystemdManager {
    plan: UnitPlan,
    kind: HostKind,
    inner: Box<dyn Manager>,
    description: String,
    /// Resources given before the unit exists (applied when it is started).
    pending: RefCell<Option<LinuxResources>>,
    /// Properties from "org.systemd.property.*" annotations (added last, so they win).
    extra: RefCell<Vec<Value>>,
    /// Whether this process started the unit (or loaded it from state).
    started: Cell<bool>,
    /// The InvocationID of the unit this container started (see CgroupState).
    invocation: RefCell<Option<String>>,
}

fn inner_manager(kind: HostKind, cgroup: &str) -> Result<Box<dyn Manager>> {
    Ok(match kind {
        HostKind::V2 => Box::new(v2::V2Manager::new(super::join_cgroup(
            Path::new(CGROUP_ROOT),
            cgroup,
        ))),
        k => Box::new(v1::V1Manager::resolve(cgroup, k)?),
    })
}

impl SystemdManager {
    /// A manager for a new container (the unit is started by [`Manager::add_pid`]).
    pub fn new(cgroups_path: Option<&str>, id: &str, kind: HostKind) -> Result<SystemdManager> {
        let plan = plan(cgroups_path, id)?;
        let inner = inner_manager(kind, &plan.cgroup)?;
        Ok(SystemdManager {
            plan,
            kind,
            inner,
            description: format!("hull container {id}"),
            pending: RefCell::new(None),
            extra: RefCell::new(Vec::new()),
            started: Cell::new(false),
            invocation: RefCell::new(None),
        })
    }

    /// Rebuilds the manager of an existing container from its state.
    pub fn from_state(state: &CgroupState, unit: &str) -> Result<SystemdManager> {
        let plain = CgroupState {
            systemd_unit: None,
            systemd_invocation: None,
            ..state.clone()
        };
        let inner = super::load_manager(&plain)?;
        Ok(SystemdManager {
            plan: UnitPlan {
                unit: unit.to_string(),
                slice: if unit.ends_with(".slice") {
                    None
                } else {
                    Some(String::new())
                },
                cgroup: String::new(),
            },
            kind: state.kind,
            inner,
            description: String::new(),
            pending: RefCell::new(None),
            extra: RefCell::new(Vec::new()),
            started: Cell::new(true),
            invocation: RefCell::new(state.systemd_invocation.clone()),
        })
    }

    pub fn unit(&self) -> &str {
        &self.plan.unit
    }

    fn start_properties(&self, pid: i32, version: u32) -> Result<Vec<Value>> {
        let v2 = self.kind == HostKind::V2;
        let mut p = vec![
            prop("Description", Value::str(self.description.clone())),
            prop("DefaultDependencies", Value::Bool(false)),
            prop("MemoryAccounting", Value::Bool(true)),
            prop("CPUAccounting", Value::Bool(true)),
            prop(
                if v2 {
                    "IOAccounting"
                } else {
                    "BlockIOAccounting"
                },
                Value::Bool(true),
            ),
            prop("TasksAccounting", Value::Bool(true)),
        ];
        if let Some(slice) = &self.plan.slice {
            p.push(prop("Slice", Value::str(slice.clone())));
            p.push(prop("Delegate", Value::Bool(true)));
            p.push(prop(
                "PIDs",
                Value::Array("u".into(), vec![Value::U32(pid as u32)]),
            ));
        }
        if let Some(res) = self.pending.borrow().as_ref() {
            p.extend(resource_properties(res, self.kind, version)?);
        }
        p.extend(self.extra.borrow().iter().cloned());
        Ok(p)
    }

    /// Checks that systemd put `pid` where we expect the unit's cgroup to be.
    fn check_placement(&self, pid: i32) -> Result<()> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .with_context(|| format!("reading /proc/{pid}/cgroup"))?;
        let lines = super::parse_proc_cgroup(&text);
        let actual = match self.kind {
            HostKind::V2 => lines.iter().find(|l| l.id == 0),
            _ => lines.iter().find(|l| l.controllers == "name=systemd"),
        };
        if let Some(l) = actual {
            if l.path != self.plan.cgroup {
                bail!(
                    "systemd placed the container init in cgroup {:?}, expected {:?}",
                    l.path,
                    self.plan.cgroup
                );
            }
        }
        Ok(())
    }

    fn start(&self, pid: i32) -> Result<()> {
        let mut sd = Systemd::connect()?;
        let version = sd.version().unwrap_or(0);
        let props = self.start_properties(pid, version)?;
        sd.start_transient_unit(&self.plan.unit, props)?;
        self.started.set(true);
        *self.invocation.borrow_mut() = sd.invocation_id(&self.plan.unit).ok().flatten();
        if !self.plan.is_slice() {
            self.check_placement(pid)?;
        }
        // Directories systemd does not manage (v1 hierarchies such as cpuset or net_cls), then
        // the pid into every hierarchy (a no-op where systemd already put it).
        self.inner.create()?;
        self.inner.add_pid(pid)?;
        if let Some(res) = self.pending.borrow_mut().take() {
            self.inner.apply(&res)?;
        }
        Ok(())
    }
}

impl SystemdManager {
    /// Who has the unit's name now.
    fn owner(&self) -> Result<UnitOwner> {
        let now = Systemd::connect()?.invocation_id(&self.plan.unit)?;
        let ours = self.invocation.borrow().clone();
        Ok(match (now, ours) {
            (None, _) => UnitOwner::Nobody,
            (Some(now), Some(ours)) if now == ours => UnitOwner::Us,
            // loaded, but another invocation, or we never learnt ours (create was killed)
            _ => UnitOwner::Other,
        })
    }

    /// The CFS quota and period in force now, read from cgroupfs (-1 = no quota).
    fn current_cfs(&self) -> Option<(i64, u64)> {
        let st = self.inner.state();
        if self.kind == HostKind::V2 {
            let dir = st.paths.get("")?;
            let v = std::fs::read_to_string(dir.join("cpu.max")).ok()?;
            let mut f = v.split_whitespace();
            let quota = match f.next()? {
                "max" => -1,
                q => q.parse().ok()?,
            };
            return Some((quota, f.next()?.parse().ok()?));
        }
        let dir = st
            .paths
            .iter()
            .find(|(k, _)| k.split(',').any(|c| c == "cpu"))
            .map(|(_, d)| d)?;
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        Some((
            read("cpu.cfs_quota_us")?.trim().parse().ok()?,
            read("cpu.cfs_period_us")?.trim().parse().ok()?,
        ))
    }

    /// `res` with a missing quota or period (when the other is given) filled in from cgroupfs.
    fn with_current_cfs(&self, res: &LinuxResources) -> LinuxResources {
        let mut out = res.clone();
        let Some(c) = res.cpu() else {
            return out;
        };
        if c.quota().is_some() == c.period().is_some() {
            return out;
        }
        if let Some((quota, period)) = self.current_cfs() {
            let mut c = c.clone();
            if c.quota().is_none() {
                c.set_quota(Some(quota));
            }
            if c.period().is_none() {
                c.set_period(Some(period));
            }
            out.set_cpu(Some(c));
        }
        out
    }
}

impl Manager for SystemdManager {
    fn create(&self) -> Result<()> {
        // The unit needs the init's pid: it is started by add_pid.
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        if self.started.get() {
            return self.inner.add_pid(pid);
        }
        self.start(pid)
    }

    fn apply(&self, res: &LinuxResources) -> Result<()> {
        if !self.started.get() {
            *self.pending.borrow_mut() = Some(res.clone());
            return Ok(());
        }
        // systemd takes quota and period as one rate: an update naming only one of them must
        // be completed with the current other, or the rate would be computed from a default.
        let res = &self.with_current_cfs(res);
        let mut sd = Systemd::connect()?;
        let version = sd.version().unwrap_or(0);
        let props = resource_properties(res, self.kind, version)?;
        sd.set_unit_properties(&self.plan.unit, props)?;
        self.inner.apply(res)
    }

    fn freeze(&self) -> Result<()> {
        self.inner.freeze()
    }

    fn thaw(&self) -> Result<()> {
        self.inner.thaw()
    }

    fn is_frozen(&self) -> Result<bool> {
        self.inner.is_frozen()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.inner.pids()
    }

    fn destroy(&self) -> Result<()> {
        if !self.started.get() {
            // The unit was never started by us (e.g. StartTransientUnit failed because a unit of
            // that name exists): its cgroup, if any, belongs to someone else.
            return Ok(());
        }
        match if is_running() {
            self.owner()?
        } else {
            UnitOwner::Nobody
        } {
            UnitOwner::Us => {}
            // systemd collected our emptied scope: only cgroupfs leftovers systemd does not
            // manage (v1 hierarchies such as cpuset or freezer) remain, and they are ours.
            UnitOwner::Nobody => return self.inner.destroy(),
            UnitOwner::Other => {
                // The name (and so the cgroup path) is another invocation's, maybe another
                // container's, or we never learnt ours (create was killed): leave it alone.
                crate::logging::debug(&format!(
                    "systemd unit {} is not this container's (any more): not stopping it",
                    self.plan.unit
                ));
                return Ok(());
            }
        }
        // Processes still there (no pid namespace) are killed through cgroupfs first: stopping
        // the unit would SIGTERM them and wait for systemd's stop timeout.
        if self.inner.exists() && !self.inner.pids().unwrap_or_default().is_empty() {
            self.inner.destroy()?;
        }
        if is_running() {
            Systemd::stop_unit_retrying(&self.plan.unit)?;
        }
        self.inner.destroy()
    }

    fn stats(&self) -> Result<Stats> {
        self.inner.stats()
    }

    fn unified_dir(&self) -> Option<PathBuf> {
        // The directory exists only once systemd has started the unit with the init's pid.
        None
    }

    fn parent_places(&self) -> bool {
        true
    }

    fn set_annotations(
        &self,
        annotations: &std::collections::HashMap<String, String>,
    ) -> Result<()> {
        *self.extra.borrow_mut() = annotation_properties(annotations)?;
        Ok(())
    }

    fn exists(&self) -> bool {
        self.inner.exists()
    }

    fn state(&self) -> CgroupState {
        CgroupState {
            systemd_unit: Some(self.plan.unit.clone()),
            systemd_invocation: self.invocation.borrow().clone(),
            ..self.inner.state()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
        LinuxResourcesBuilder,
    };

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
        let p = plan(None, "c1").unwrap();
        assert_eq!(p.unit, "hull-c1.scope");
        assert_eq!(p.slice.as_deref(), Some("system.slice"));
        assert_eq!(p.cgroup, "/system.slice/hull-c1.scope");
        assert_eq!(plan(Some(""), "c1").unwrap(), p);

        let p = plan(Some("machine-test.slice:docker:abc"), "x").unwrap();
        assert_eq!(p.unit, "docker-abc.scope");
        assert_eq!(
            p.cgroup,
            "/machine.slice/machine-test.slice/docker-abc.scope"
        );

        let p = plan(Some(":crio:abc"), "x").unwrap();
        assert_eq!(p.cgroup, "/system.slice/crio-abc.scope");

        let p = plan(Some("user.slice::abc"), "x").unwrap();
        assert_eq!(p.unit, "abc.scope");
        assert_eq!(p.cgroup, "/user.slice/abc.scope");

        let p = plan(Some("-:p:n"), "x").unwrap();
        assert_eq!(p.slice.as_deref(), Some("-.slice"));
        assert_eq!(p.cgroup, "/p-n.scope");

        let p = plan(Some("system.slice:p:pod-x.slice"), "x").unwrap();
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
            assert!(plan(Some(bad), "x").is_err(), "{bad}");
        }
        let e = plan(Some("/x"), "id").unwrap_err().to_string();
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
                Value::U64(super::super::blkio_weight_to_io_weight(500)),
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
        use super::super::DeviceRule;
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
        };
        let json = serde_json::to_string(&st).unwrap();
        let back: CgroupState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, st);
        let m = super::super::load_manager(&back).unwrap();
        assert!(m.parent_places());
        assert_eq!(m.state(), st);
        // A state file written before the systemd driver existed still loads.
        let old: CgroupState =
            serde_json::from_str(r#"{"kind":"v2","paths":{"":"/sys/fs/cgroup/x"}}"#).unwrap();
        assert_eq!(old.systemd_unit, None);
        assert!(!serde_json::to_string(&old).unwrap().contains("systemd"));
    }
}
