//! What one `update` asks for: the command-line flags or the JSON given with `--resources`,
//! turned into [`Changes`].

use super::go_numbers::{go_parse_int, go_parse_int_base0, go_parse_uint, go_quote, ram_in_bytes};
use crate::cli::args::{flag, FlagSpec, Kind, Parsed};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};
use std::collections::HashMap;
use std::io::Read;

pub const FLAGS: &[FlagSpec] = &[
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
    /// Device rules from `--resources` (only those that deny are applied; runc ignores all).
    pub devices: Option<Vec<LinuxDeviceCgroup>>,
}

/// Validates the int flags the way Go's flag package does while parsing the command line.
pub(super) fn check_int_flags(p: &Parsed) -> Result<()> {
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
        devices: r.devices().clone(),
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

pub(super) fn read_resources_input(path: &str) -> Result<Vec<u8>> {
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
