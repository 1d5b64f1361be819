//! CPU affinity of the container's processes. runc's rules: a new process (init or `exec`)
//! does not keep the affinity of whoever ran the runtime, it is reset to every CPU once it is
//! in the container's cgroup, which the kernel narrows to the cgroup's cpuset.
//! `process.execCPUAffinity` (for `exec` only, per runtime-spec): `initial` is set before the
//! process joins the cgroup, and `final` instead of the reset once it is in (without `final`
//! the cgroup's CPUs apply, as the spec says).

use super::cpulist;
use anyhow::{Context, Result};

/// CPUs a cpu_set_t can name.
const MAX_CPUS: usize = libc::CPU_SETSIZE as usize;

/// Parses a list such as "0-3,7" into the kernel's mask.
pub fn parse(list: &str) -> Result<libc::cpu_set_t> {
    let words = cpulist::parse(list, MAX_CPUS)?;
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in cpulist::members(&words) {
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    Ok(set)
}

fn set_own(set: &libc::cpu_set_t) -> std::io::Result<()> {
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling process's affinity to `list`; `which` ("initial" or "final") names the
/// field in the error.
pub fn apply(list: &str, which: &str) -> Result<()> {
    let set = parse(list).with_context(|| format!("process.execCPUAffinity.{which}"))?;
    set_own(&set).map_err(|e| {
        anyhow::anyhow!(
            "error setting {which} CPU affinity {list:?}: {}",
            crate::util::errno_text(&e)
        )
    })
}

/// Every CPU: the kernel keeps those of the cpuset the process is in. Best effort, as runc:
/// a failure leaves the inherited affinity, which is never wider than allowed.
pub fn reset() {
    let mut all: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in 0..MAX_CPUS {
        unsafe { libc::CPU_SET(cpu, &mut all) };
    }
    if let Err(e) = set_own(&all) {
        crate::logging::debug(&format!("resetting CPU affinity: {e}"));
    }
}

/// Checks both lists of an `execCPUAffinity` up front.
pub fn check(a: &oci_spec::runtime::ExecCPUAffinity) -> Result<()> {
    if let Some(l) = a.initial() {
        parse(l).context("process.execCPUAffinity.initial")?;
    }
    if let Some(l) = a.cpu_affinity_final() {
        parse(l).context("process.execCPUAffinity.final")?;
    }
    Ok(())
}
