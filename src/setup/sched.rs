//! `process.scheduler`: the scheduling policy and its parameters, set with sched_setattr(2)
//! on the process itself just before it becomes the program (the container init and `exec`).

use crate::spec::sched_flags;
use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxSchedulerPolicy as Policy, Scheduler};

/// struct sched_attr of include/uapi/linux/sched/types.h (SCHED_ATTR_SIZE_VER1).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

fn policy_number(p: Policy) -> u32 {
    match p {
        Policy::SchedOther => 0,
        Policy::SchedFifo => 1,
        Policy::SchedRr => 2,
        Policy::SchedBatch => 3,
        Policy::SchedIso => 4,
        Policy::SchedIdle => 5,
        Policy::SchedDeadline => 6,
    }
}

/// The same rules runc applies before creating anything (its words), plus the priority
/// range the kernel enforces for the real-time policies, so a bad config fails up front.
pub fn check(s: &Scheduler) -> Result<()> {
    let policy = *s.policy();
    let nice = s.nice().unwrap_or(0);
    let priority = s.priority().unwrap_or(0);
    if matches!(policy, Policy::SchedOther | Policy::SchedBatch) && !(-20..=19).contains(&nice) {
        bail!("invalid scheduler.nice: {nice} when scheduler.policy is {policy}");
    }
    let realtime = matches!(policy, Policy::SchedFifo | Policy::SchedRr);
    if priority != 0 && !realtime {
        bail!("scheduler.priority can only be specified for SchedFIFO or SchedRR policy");
    }
    if realtime && !(1..=99).contains(&priority) {
        bail!("invalid scheduler.priority: {priority}: {policy} needs a priority from 1 to 99");
    }
    let dl = [s.runtime(), s.deadline(), s.period()];
    if policy != Policy::SchedDeadline && dl.iter().any(|v| v.unwrap_or(0) != 0) {
        bail!("scheduler runtime/deadline/period can only be specified for SchedDeadline policy");
    }
    if policy == Policy::SchedIso {
        // Reserved by the kernel but never implemented: sched_setattr always fails.
        bail!("scheduler.policy SCHED_ISO is not implemented by the Linux kernel");
    }
    Ok(())
}

fn attr(s: &Scheduler) -> SchedAttr {
    SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy_number(*s.policy()),
        flags: s
            .flags()
            .iter()
            .flatten()
            .map(|f| sched_flags::bit(*f))
            .fold(0, |a, b| a | b),
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    }
}

/// Applies the scheduler to the calling process. `cpuset` says whether the container has a
/// cpuset restriction: SCHED_DEADLINE is refused (EPERM) for a task that may not run on every
/// CPU of its root domain, and runc names that cause.
pub fn apply(s: &Scheduler, cpuset: bool) -> Result<()> {
    let a = attr(s);
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EPERM) && cpuset {
        bail!("process scheduler can't be used together with AllowedCPUs");
    }
    bail!(
        "error setting scheduler ({}): {}",
        s.policy(),
        crate::util::errno_text(&e)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::SchedulerBuilder;

    fn sched(policy: Policy) -> SchedulerBuilder {
        SchedulerBuilder::default().policy(policy)
    }

    #[test]
    fn runc_rules() {
        assert!(check(&sched(Policy::SchedBatch).nice(5).build().unwrap()).is_ok());
        assert!(check(&sched(Policy::SchedOther).nice(20).build().unwrap()).is_err());
        assert!(check(&sched(Policy::SchedOther).priority(3).build().unwrap()).is_err());
        assert!(check(&sched(Policy::SchedFifo).priority(3).build().unwrap()).is_ok());
        assert!(check(&sched(Policy::SchedRr).build().unwrap()).is_err());
        assert!(check(&sched(Policy::SchedIdle).runtime(5u64).build().unwrap()).is_err());
        let dl = sched(Policy::SchedDeadline)
            .runtime(42_000u64)
            .deadline(1_000_000u64)
            .period(1_000_000u64)
            .build()
            .unwrap();
        assert!(check(&dl).is_ok());
        assert_eq!(attr(&dl).policy, 6);
        assert_eq!(attr(&dl).size, 56);
    }
}
