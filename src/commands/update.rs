//! `hull update [flags] <id>`: change the resource limits of a created, running or paused
//! container, like runc's `update`.
//!
//! The new values (from flags, or from a JSON file / stdin with `--resources`) are merged over
//! the resources stored for the container (the `linux.resources` of the config copy in the
//! state directory), applied through the cgroup manager and then stored, so the next update
//! sees them. As in runc, only these fields can change: blockIO.weight, the cpu and cpuset
//! values, memory limit/reservation/swap/checkBeforeUpdate, the pids limit and `unified`.
//! Device rules are never touched by an update (runc sets SkipDevices), so a container keeps
//! its device allow list.

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Parsed, Trailing};
use crate::state::{Status, CONFIG_FILE};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

const FLAGS: &[FlagSpec] = &[
    flag(&["resources", "r"], Kind::Value),
    flag(&["blkio-weight"], Kind::Value),
    flag(&["cpu-period"], Kind::Value),
    flag(&["cpu-quota"], Kind::Value),
    flag(&["cpu-burst"], Kind::Value),
    flag(&["cpu-share"], Kind::Value),
    flag(&["cpu-rt-period"], Kind::Value),
    flag(&["cpu-rt-runtime"], Kind::Value),
    flag(&["cpuset-cpus"], Kind::Value),
    flag(&["cpuset-mems"], Kind::Value),
    flag(&["cpu-idle"], Kind::Value),
    flag(&["kernel-memory"], Kind::Value),
    flag(&["kernel-memory-tcp"], Kind::Value),
    flag(&["memory"], Kind::Value),
    flag(&["memory-reservation"], Kind::Value),
    flag(&["memory-swap"], Kind::Value),
    flag(&["pids-limit"], Kind::Value),
    flag(&["l3-cache-schema"], Kind::Value),
    flag(&["mem-bw-schema"], Kind::Value),
];

/// runc's integer flags (urfave/cli IntFlag): parsed by Go's flag package when the command
/// line is parsed, before anything else happens.
const INT_FLAGS: &[&str] = &["blkio-weight", "pids-limit"];

/// The changes one `update` asks for; None (or 0 for the pids limit, "" for cpusets) means
/// "leave as it is", exactly as runc treats them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    pub blkio_weight: Option<u16>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_burst: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_idle: Option<i64>,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub check_before_update: Option<bool>,
    /// Kernel memory limits are accepted but ignored (with a warning), as in runc.
    pub kernel_memory: bool,
    pub pids_limit: i64,
    pub unified: Option<HashMap<String, String>>,
}

// ---------------------------------------------------------------------------------------------
// Go-compatible number parsing (runc's error texts are what callers see)
// ---------------------------------------------------------------------------------------------

/// Go's strconv.ParseUint(s, 10, 64), with its error text.
pub fn go_parse_uint(s: &str) -> Result<u64> {
    let syntax = || anyhow!("strconv.ParseUint: parsing {}: invalid syntax", go_quote(s));
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax());
    }
    s.parse::<u64>().map_err(|_| {
        anyhow!(
            "strconv.ParseUint: parsing {}: value out of range",
            go_quote(s)
        )
    })
}

/// Go's strconv.ParseInt(s, 10, 64), with its error text.
pub fn go_parse_int(s: &str) -> Result<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        bail!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s));
    }
    let v: i128 = digits.parse().unwrap_or(i128::MAX);
    let v = if s.starts_with('-') { -v } else { v };
    i64::try_from(v).map_err(|_| {
        anyhow!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(s)
        )
    })
}

/// strconv.Quote for the ASCII strings these errors usually hold (JSON escaping is close
/// enough for the rest).
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Go's underscoreOK: underscores only between digits (or a base prefix and a digit).
fn underscore_ok(s: &str) -> bool {
    let b = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's strconv.ParseInt(s, 0, 64) as Go's flag package uses it for int flags; the error is
/// the flag package's ("parse error" / "value out of range").
pub fn go_parse_int_base0(s: &str) -> std::result::Result<i64, &'static str> {
    const SYNTAX: &str = "parse error";
    const RANGE: &str = "value out of range";
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    if b.is_empty() {
        return Err(SYNTAX);
    }
    let (base, digits) = if b[0] == b'0' && b.len() > 1 {
        match b[1].to_ascii_lowercase() {
            b'x' => (16, &body[2..]),
            b'b' => (2, &body[2..]),
            b'o' => (8, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else {
        (10, body)
    };
    if digits.is_empty() {
        return Err(SYNTAX);
    }
    let mut underscores = false;
    let mut v: u128 = 0;
    for c in digits.bytes() {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let d = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 10,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return Err(SYNTAX),
        };
        if d >= base {
            return Err(SYNTAX);
        }
        // Like Go, an overflow is reported at once (before later syntax errors).
        v = v * base as u128 + d as u128;
        if v > u64::MAX as u128 {
            return Err(RANGE);
        }
    }
    if underscores && !underscore_ok(s) {
        return Err(SYNTAX);
    }
    let v = if neg { -(v as i128) } else { v as i128 };
    i64::try_from(v).map_err(|_| RANGE)
}

/// docker/go-units RAMInBytes as vendored by runc 1.1: `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`
/// with binary (1024-based) multipliers. Errors carry go-units' / strconv's text.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let invalid = || anyhow!("invalid size: '{s}'");
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return Err(invalid());
    }
    while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        digits(&mut i);
    }
    let num = &s[..i];
    if i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let mut mul: f64 = 1.0;
    if i < b.len() {
        let p = match b[i].to_ascii_lowercase() {
            b'k' => Some(1),
            b'm' => Some(2),
            b'g' => Some(3),
            b't' => Some(4),
            b'p' => Some(5),
            _ => None,
        };
        if let Some(p) = p {
            mul = 1024f64.powi(p);
            i += 1;
        }
    }
    if i < b.len() && b[i].eq_ignore_ascii_case(&b'i') {
        i += 1;
    }
    if i < b.len() && b[i].eq_ignore_ascii_case(&b'b') {
        i += 1;
    }
    if i != b.len() {
        return Err(invalid());
    }
    let size: f64 = match num.parse::<f64>() {
        Ok(v) if v.is_finite() => v,
        Ok(_) => bail!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(num)
        ),
        Err(_) => bail!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(num)
        ),
    };
    let v = size * mul;
    // Go's int64(float64) on amd64: out-of-range values become math.MinInt64.
    if v >= 9_223_372_036_854_775_808.0 {
        return Ok(i64::MIN);
    }
    Ok(v as i64)
}

// ---------------------------------------------------------------------------------------------
// Collecting the changes
// ---------------------------------------------------------------------------------------------

/// Validates the int flags the way Go's flag package does while parsing the command line.
fn check_int_flags(p: &Parsed) -> Result<()> {
    for name in INT_FLAGS {
        for v in p.all(name) {
            if let Err(e) = go_parse_int_base0(&v) {
                bail!("invalid value {} for flag -{name}: {e}", go_quote(&v));
            }
        }
    }
    Ok(())
}

fn int_flag(p: &Parsed, name: &str) -> i64 {
    p.get(name)
        .and_then(|v| go_parse_int_base0(v).ok())
        .unwrap_or(0)
}

/// The changes given as flags (runc ignores flags when --resources is used).
pub fn changes_from_flags(p: &Parsed) -> Result<Changes> {
    let mut c = Changes::default();
    let given = |name: &str| p.get(name).filter(|v| !v.is_empty());
    let w = int_flag(p, "blkio-weight");
    if w != 0 {
        // runc converts the int with uint16(val).
        c.blkio_weight = Some(w as u16);
    }
    if let Some(v) = given("cpuset-cpus") {
        c.cpuset_cpus = v.to_string();
    }
    if let Some(v) = given("cpuset-mems") {
        c.cpuset_mems = v.to_string();
    }
    if let Some(v) = given("cpu-idle") {
        c.cpu_idle = Some(go_parse_int(v).context("invalid value for cpu-idle")?);
    }
    for (name, dest) in [
        ("cpu-burst", &mut c.cpu_burst),
        ("cpu-period", &mut c.cpu_period),
        ("cpu-rt-period", &mut c.cpu_rt_period),
        ("cpu-share", &mut c.cpu_shares),
    ] {
        if let Some(v) = given(name) {
            *dest = Some(go_parse_uint(v).with_context(|| format!("invalid value for {name}"))?);
        }
    }
    for (name, dest) in [
        ("cpu-quota", &mut c.cpu_quota),
        ("cpu-rt-runtime", &mut c.cpu_rt_runtime),
    ] {
        if let Some(v) = given(name) {
            *dest = Some(go_parse_int(v).with_context(|| format!("invalid value for {name}"))?);
        }
    }
    let mut kernel = None;
    let mut kernel_tcp = None;
    for (name, dest) in [
        ("memory", &mut c.memory),
        ("memory-swap", &mut c.memory_swap),
        ("memory-reservation", &mut c.memory_reservation),
        ("kernel-memory", &mut kernel),
        ("kernel-memory-tcp", &mut kernel_tcp),
    ] {
        if let Some(v) = given(name) {
            let n = if v == "-1" {
                -1
            } else {
                ram_in_bytes(v).with_context(|| format!("invalid value for {name}"))?
            };
            *dest = Some(n);
        }
    }
    c.kernel_memory = kernel.is_some() || kernel_tcp.is_some();
    c.pids_limit = int_flag(p, "pids-limit");
    Ok(c)
}

/// Go's json.Decoder error texts for the common cases; serde's otherwise.
fn json_error(data: &[u8], e: serde_json::Error) -> anyhow::Error {
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        anyhow!("EOF")
    } else if e.is_eof() {
        anyhow!("unexpected EOF")
    } else {
        anyhow!(e)
    }
}

/// Decodes the first JSON value of `data` (trailing data is ignored, like Go's json.Decoder).
pub fn changes_from_json(data: &[u8]) -> Result<Changes> {
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<LinuxResources>();
    let r = match stream.next() {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(json_error(data, e)),
        None => bail!("EOF"),
    };
    let mut c = Changes {
        blkio_weight: r.block_io().as_ref().and_then(|b| b.weight()),
        pids_limit: r.pids().as_ref().map(|p| p.limit()).unwrap_or(0),
        unified: r.unified().clone(),
        ..Default::default()
    };
    if let Some(cpu) = r.cpu() {
        c.cpu_period = cpu.period();
        c.cpu_quota = cpu.quota();
        c.cpu_burst = cpu.burst();
        c.cpu_shares = cpu.shares();
        c.cpu_rt_period = cpu.realtime_period();
        c.cpu_rt_runtime = cpu.realtime_runtime();
        c.cpu_idle = cpu.idle();
        c.cpuset_cpus = cpu.cpus().clone().unwrap_or_default();
        c.cpuset_mems = cpu.mems().clone().unwrap_or_default();
    }
    if let Some(m) = r.memory() {
        c.memory = m.limit();
        c.memory_reservation = m.reservation();
        c.memory_swap = m.swap();
        c.check_before_update = m.check_before_update();
        c.kernel_memory = m.kernel().is_some() || m.kernel_tcp().is_some();
    }
    Ok(c)
}

fn read_resources_input(path: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    if path == "-" {
        std::io::stdin()
            .read_to_end(&mut data)
            .context("reading resources from stdin")?;
    } else {
        let mut f = std::fs::File::open(path)
            .map_err(|e| anyhow!("open {path}: {}", crate::util::errno_text(&e)))?;
        f.read_to_end(&mut data)
            .map_err(|e| anyhow!("read {path}: {}", crate::util::errno_text(&e)))?;
    }
    Ok(data)
}

// ---------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------

/// Merges `c` over the stored resources. Returns (what to store, what to apply). Like runc,
/// only what this update names is written to the cgroup: re-writing stored values could
/// undo or conflict with the new ones (e.g. a stored swap limit checked against a new memory
/// limit, or checkBeforeUpdate failing a cpu-only update). The applied set never has device
/// rules (an update does not reset the device cgroup).
pub fn merge(stored: &LinuxResources, c: &Changes) -> Result<(LinuxResources, LinuxResources)> {
    let mut store = stored.clone();
    overlay(&mut store, c);
    if let Some(u) = &c.unified {
        let mut all = store.unified().clone().unwrap_or_default();
        all.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
        store.set_unified(Some(all));
    }
    let mut apply = LinuxResources::default();
    overlay(&mut apply, c);
    apply.set_unified(c.unified.clone().filter(|u| !u.is_empty()));
    Ok((store, apply))
}

/// Sets every field `c` names on `r`, leaving the others as they are.
fn overlay(r: &mut LinuxResources, c: &Changes) {
    if let Some(w) = c.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }

    let cpu_changed = c.cpu_period.is_some()
        || c.cpu_quota.is_some()
        || c.cpu_burst.is_some()
        || c.cpu_shares.is_some()
        || c.cpu_rt_period.is_some()
        || c.cpu_rt_runtime.is_some()
        || c.cpu_idle.is_some()
        || !c.cpuset_cpus.is_empty()
        || !c.cpuset_mems.is_empty();
    if cpu_changed {
        let mut cpu: LinuxCpu = r.cpu().clone().unwrap_or_default();
        if let Some(v) = c.cpu_period {
            cpu.set_period(Some(v));
        }
        if let Some(v) = c.cpu_quota {
            cpu.set_quota(Some(v));
        }
        if let Some(v) = c.cpu_burst {
            cpu.set_burst(Some(v));
        }
        if let Some(v) = c.cpu_shares {
            cpu.set_shares(Some(v));
        }
        if let Some(v) = c.cpu_rt_period {
            cpu.set_realtime_period(Some(v));
        }
        if let Some(v) = c.cpu_rt_runtime {
            cpu.set_realtime_runtime(Some(v));
        }
        if let Some(v) = c.cpu_idle {
            cpu.set_idle(Some(v));
        }
        if !c.cpuset_cpus.is_empty() {
            cpu.set_cpus(Some(c.cpuset_cpus.clone()));
        }
        if !c.cpuset_mems.is_empty() {
            cpu.set_mems(Some(c.cpuset_mems.clone()));
        }
        r.set_cpu(Some(cpu));
    }

    let mut swap = c.memory_swap;
    // Memory set to unlimited without an explicit swap value means both unlimited (runc).
    if c.memory == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    if c.memory.is_some()
        || swap.is_some()
        || c.memory_reservation.is_some()
        || c.check_before_update.is_some()
    {
        let mut m: LinuxMemory = r.memory().unwrap_or_default();
        if let Some(v) = c.memory {
            m.set_limit(Some(v));
        }
        if let Some(v) = swap {
            m.set_swap(Some(v));
        }
        if let Some(v) = c.memory_reservation {
            m.set_reservation(Some(v));
        }
        if let Some(v) = c.check_before_update {
            m.set_check_before_update(Some(v));
        }
        r.set_memory(Some(m));
    }

    if c.pids_limit != 0 {
        let mut p = LinuxPids::default();
        p.set_limit(c.pids_limit);
        r.set_pids(Some(p));
    }
}

// ---------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------

fn stored_config(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join(CONFIG_FILE);
    let raw = std::fs::read(&path).context("reading the container's saved config")?;
    serde_json::from_slice(&raw).with_context(|| format!("corrupt saved config {}", path.display()))
}

fn stored_resources(config: &serde_json::Value) -> Result<LinuxResources> {
    match config.pointer("/linux/resources") {
        None | Some(serde_json::Value::Null) => Ok(LinuxResources::default()),
        Some(v) => serde_json::from_value(v.clone())
            .context("parsing linux.resources of the container's saved config"),
    }
}

fn save_resources(dir: &Path, mut config: serde_json::Value, res: &LinuxResources) -> Result<()> {
    let v = serde_json::to_value(res)?;
    match config.get_mut("linux").and_then(|l| l.as_object_mut()) {
        Some(linux) => {
            linux.insert("resources".into(), v);
        }
        None => {
            if let Some(obj) = config.as_object_mut() {
                obj.insert("linux".into(), serde_json::json!({ "resources": v }));
            }
        }
    }
    let data = serde_json::to_vec(&config)?;
    crate::util::fs::write_atomic(&dir.join(CONFIG_FILE), &data, 0o600)
}

/// Intel RDT: hull does not manage resctrl groups. Like runc, an unavailable feature gets
/// runc's words; an available one is still refused (clearly) rather than ignored.
fn check_intel_rdt(p: &Parsed) -> Result<()> {
    let l3 = p.get("l3-cache-schema").unwrap_or("");
    let mb = p.get("mem-bw-schema").unwrap_or("");
    let info = Path::new("/sys/fs/resctrl/info");
    if !l3.is_empty() && !info.join("L3").exists() {
        bail!("Intel RDT/CAT: l3 cache schema is not enabled");
    }
    if !mb.is_empty() && !info.join("MB").exists() {
        bail!("Intel RDT/MBA: memory bandwidth schema is not enabled");
    }
    if !l3.is_empty() || !mb.is_empty() {
        bail!("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by hull");
    }
    Ok(())
}

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    check_int_flags(&p)?;
    let id = super::create::single_id("update", &p)?;
    crate::state::id::validate(id)?;
    let st = g.store.load(id)?;
    let changes = match p.get("resources").filter(|r| !r.is_empty()) {
        Some(path) => {
            let data = read_resources_input(path)?;
            changes_from_json(&data)?
        }
        None => changes_from_flags(&p)?,
    };
    if changes.kernel_memory {
        crate::logging::warn("Kernel memory settings are ignored and will be removed");
    }
    check_intel_rdt(&p)?;
    match st.status(&g.store) {
        Status::Created | Status::Running | Status::Paused => {}
        Status::Stopped | Status::Creating => bail!("container not running"),
    }
    let cg = st.cgroup.as_ref().context("container has no cgroup")?;
    let mgr = crate::cgroups::load_manager(cg)?;
    let dir = g.store.dir(id);
    let config = stored_config(&dir)?;
    let old = stored_resources(&config)?;
    let (new, apply) = merge(&old, &changes)?;
    if let Err(e) = mgr.apply(&apply) {
        // Put back what was there (runc does the same), so a half-applied update does not
        // leave the cgroup out of step with the stored resources.
        let mut back = old.clone();
        back.set_devices(None);
        back.set_unified(None);
        if let Err(e2) = mgr.apply(&back) {
            crate::logging::warn(&format!("restoring the previous resources: {e2:#}"));
        }
        return Err(e);
    }
    save_resources(&dir, config, &new)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
