//! Kernel attributes of a container process that execve keeps, set on the process itself
//! just before it becomes the program: the process's scheduler and I/O priority, and the
//! container's NUMA memory policy and execution domain. Each is one syscall, made only when
//! its field is present.

use super::{ioprio, mempolicy, personality, sched};
use anyhow::Result;
use oci_spec::runtime::{Linux, Process};

pub fn apply(process: &Process, linux: Option<&Linux>) -> Result<()> {
    if let Some(s) = process.scheduler() {
        sched::apply(s, has_cpuset(linux))?;
    }
    if let Some(p) = process.io_priority() {
        ioprio::apply(p)?;
    }
    let Some(l) = linux else { return Ok(()) };
    if let Some(m) = l.memory_policy() {
        mempolicy::apply(m)?;
    }
    if let Some(p) = l.personality() {
        personality::apply(p)?;
    }
    Ok(())
}

/// Whether the config restricts the container's CPUs (only read when a scheduler is set).
fn has_cpuset(linux: Option<&Linux>) -> bool {
    linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.cpu().as_ref())
        .and_then(|c| c.cpus().as_deref())
        .is_some_and(|c| !c.is_empty())
}
