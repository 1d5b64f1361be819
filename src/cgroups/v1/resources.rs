//! linux.resources written into the v1 controller files (memory, cpu and rt, cpuset, blkio,
//! hugetlb); the controllers v1 shares with v2 use the v2 writers.

use crate::cgroups::util::{self, io_errno};
use anyhow::{bail, Result};
use oci_spec::runtime::LinuxResources;
use std::path::Path;

pub(super) fn set_memory(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(m) = res.memory() else {
        return Ok(());
    };
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    if limit == -1 && swap == 0 && dir.join("memory.memsw.limit_in_bytes").exists() {
        swap = -1;
    }
    let set_limit = |v: i64| -> Result<()> {
        if v == 0 {
            return Ok(());
        }
        if let Err(e) = util::write(dir, "memory.limit_in_bytes", &v.to_string()) {
            if io_errno(&e) == Some(libc::EBUSY) {
                let usage = util::read_u64_or_zero(dir, "memory.usage_in_bytes")?;
                let peak = util::read_u64_or_zero(dir, "memory.max_usage_in_bytes")?;
                return Err(e.context(format!(
                    "unable to set memory limit to {v} (current usage: {usage}, peak usage: {peak})"
                )));
            }
            return Err(e);
        }
        Ok(())
    };
    let set_swap = |v: i64| -> Result<()> {
        // Unlimited is all there is without swap accounting (no memsw files).
        if v == 0 || (v == -1 && !dir.join("memory.memsw.limit_in_bytes").exists()) {
            return Ok(());
        }
        util::write(dir, "memory.memsw.limit_in_bytes", &v.to_string())
    };
    if m.check_before_update().unwrap_or(false) && limit > 0 {
        let usage = util::read_u64(dir, "memory.usage_in_bytes")?;
        if limit as u64 <= usage {
            bail!("rejecting memory limit {limit} below usage {usage}");
        }
    }
    // memsw must stay >= memory: order the writes by the direction of the change.
    let mut done = false;
    if limit != 0 && swap != 0 {
        let cur = util::read_u64(dir, "memory.limit_in_bytes")?;
        if swap == -1 || cur < swap as u64 {
            set_swap(swap)?;
            set_limit(limit)?;
            done = true;
        }
    }
    if !done {
        set_limit(limit)?;
        set_swap(swap)?;
    }
    if let Some(k) = m.kernel().filter(|k| *k != 0) {
        if dir.join("memory.kmem.limit_in_bytes").exists() {
            if let Err(e) = util::write(dir, "memory.kmem.limit_in_bytes", &k.to_string()) {
                // Recent kernels keep the file but no longer support limits (ENOTSUPP=524).
                if !matches!(io_errno(&e), Some(libc::EOPNOTSUPP) | Some(524)) {
                    return Err(e);
                }
            }
        }
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        if dir.join("memory.kmem.tcp.limit_in_bytes").exists() {
            util::write(dir, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
        }
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        util::write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        util::write(dir, "memory.oom_control", "1")?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            bail!("invalid memory swappiness value: {s} (valid range is 0-100)");
        }
        util::write(dir, "memory.swappiness", &s.to_string())?;
    }
    Ok(())
}

pub(super) fn memory_wanted(res: &LinuxResources) -> bool {
    res.memory().is_some_and(|m| {
        m.limit().unwrap_or(0) != 0
            || m.swap().unwrap_or(0) != 0
            || m.reservation().unwrap_or(0) != 0
            || m.kernel().unwrap_or(0) != 0
            || m.kernel_tcp().unwrap_or(0) != 0
            || m.swappiness().is_some()
            || m.disable_oom_killer() == Some(true)
    })
}

/// Real-time bandwidth; also called before tasks join (a SCHED_RR task cannot join a cgroup
/// without RT runtime).
fn set_rt(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(c) = res.cpu() else {
        return Ok(());
    };
    let runtime = c.realtime_runtime().unwrap_or(0);
    let mut period_later = None;
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        if let Err(e) = util::write(dir, "cpu.rt_period_us", &p.to_string()) {
            // period and runtime depend on each other: retry after the runtime.
            if io_errno(&e) != Some(libc::EINVAL) || runtime == 0 {
                return Err(e);
            }
            period_later = Some(p);
        }
    }
    if runtime != 0 {
        util::write(dir, "cpu.rt_runtime_us", &runtime.to_string())?;
        if let Some(p) = period_later {
            util::write(dir, "cpu.rt_period_us", &p.to_string())?;
        }
    }
    Ok(())
}

pub(super) fn set_cpu(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(c) = res.cpu() else {
        return Ok(());
    };
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        util::write(dir, "cpu.shares", &shares.to_string())?;
        let got = util::read_u64(dir, "cpu.shares")?;
        if shares > got {
            bail!("the maximum allowed cpu-shares is {got}");
        } else if shares < got {
            bail!("the minimum allowed cpu-shares is {got}");
        }
    }
    let quota = c.quota().unwrap_or(0);
    let mut period_later = None;
    if let Some(p) = c.period().filter(|p| *p != 0) {
        if let Err(e) = util::write(dir, "cpu.cfs_period_us", &p.to_string()) {
            // A smaller period can be rejected until the quota is set.
            if io_errno(&e) != Some(libc::EINVAL) || quota == 0 {
                return Err(e);
            }
            period_later = Some(p);
        }
    }
    let mut burst_later = None;
    if let Some(b) = c.burst() {
        match util::write(dir, "cpu.cfs_burst_us", &b.to_string()) {
            Ok(()) => {}
            Err(e) if io_errno(&e) == Some(libc::ENOENT) => {}
            Err(e) if io_errno(&e) == Some(libc::EINVAL) && quota != 0 => burst_later = Some(b),
            Err(e) => return Err(e),
        }
    }
    if quota != 0 {
        util::write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(p) = period_later {
            util::write(dir, "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(b) = burst_later {
            util::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
        }
    }
    if let Some(idle) = c.idle() {
        util::write(dir, "cpu.idle", &idle.to_string())?;
    }
    set_rt(dir, res)
}

pub(super) fn cpu_wanted(res: &LinuxResources) -> bool {
    res.cpu().as_ref().is_some_and(|c| {
        c.shares().unwrap_or(0) != 0
            || c.quota().unwrap_or(0) != 0
            || c.period().unwrap_or(0) != 0
            || c.burst().is_some()
            || c.idle().is_some()
            || c.realtime_runtime().unwrap_or(0) != 0
            || c.realtime_period().unwrap_or(0) != 0
    })
}

pub(super) fn cpuset_wanted(res: &LinuxResources) -> bool {
    res.cpu().as_ref().is_some_and(|c| {
        c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
    })
}

pub(super) fn set_blkio(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(b) = res.block_io() else {
        return Ok(());
    };
    let bfq = !dir.join("blkio.weight").exists() && dir.join("blkio.bfq.weight").exists();
    let (wfile, wdfile) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        util::write(dir, wfile, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        util::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().as_deref().unwrap_or(&[]) {
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            util::write(dir, wdfile, &format!("{}:{} {}", wd.major(), wd.minor(), w))?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
            util::write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {}", wd.major(), wd.minor(), w),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for t in list.as_deref().unwrap_or(&[]) {
            util::write(
                dir,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

pub(super) fn blkio_wanted(res: &LinuxResources) -> bool {
    res.block_io().as_ref().is_some_and(|b| {
        b.weight().unwrap_or(0) != 0
            || b.leaf_weight().unwrap_or(0) != 0
            || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
            || b.throttle_read_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_bps_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_read_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            || b.throttle_write_iops_device()
                .as_ref()
                .is_some_and(|v| !v.is_empty())
    })
}

pub(super) fn set_hugetlb_v1(dir: &Path, res: &LinuxResources) -> Result<()> {
    let mut skip_rsvd = false;
    for h in res.hugepage_limits().as_deref().unwrap_or(&[]) {
        let v = h.limit().to_string();
        let prefix = format!("hugetlb.{}", h.page_size());
        util::write(dir, &format!("{prefix}.limit_in_bytes"), &v)?;
        if skip_rsvd {
            continue;
        }
        if let Err(e) = util::write(dir, &format!("{prefix}.rsvd.limit_in_bytes"), &v) {
            if io_errno(&e) == Some(libc::ENOENT) {
                skip_rsvd = true;
            } else {
                return Err(e);
            }
        }
    }
    Ok(())
}
