//! Statistics read from the v1 controller files (memory, cpuacct, pids, blkio, hugetlb), in
//! the shape runc's `events --stats` prints.

use super::V1Manager;
use crate::cgroups::stats::{self, Stats};
use crate::cgroups::util;
use crate::cgroups::v2;
use anyhow::Result;
use std::path::Path;

fn memory_entry(dir: &Path, prefix: &str) -> Result<stats::MemoryEntry> {
    let f = |name: &str| format!("{prefix}{name}");
    if !dir.join(f("usage_in_bytes")).exists() {
        return Ok(stats::MemoryEntry::default());
    }
    Ok(stats::MemoryEntry {
        usage: util::read_u64_or_zero(dir, &f("usage_in_bytes"))?,
        max: util::read_u64_or_zero(dir, &f("max_usage_in_bytes"))?,
        failcnt: util::read_u64_or_zero(dir, &f("failcnt"))?,
        limit: util::read_u64_or_zero(dir, &f("limit_in_bytes"))?,
    })
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn parse_u64_list(s: &str) -> Vec<u64> {
    s.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// runc's v1 blkio statistics: the first group of files (bfq debug, bfq, cfq, throttle
/// recursive, throttle) whose first file has entries is used; within it, files are read in
/// order until one is missing or empty. On kernels without cfq and with devices not using bfq
/// this ends up at the throttle counters, which count every IO.
fn blkio_stats_v1(d: &Path) -> Result<stats::Blkio> {
    use stats::BlkioEntry;
    type Field = fn(&mut stats::Blkio) -> &mut Vec<BlkioEntry>;
    let sectors: Field = |b| &mut b.sectors_recursive;
    let service_time: Field = |b| &mut b.io_service_time_recursive;
    let wait_time: Field = |b| &mut b.io_wait_time_recursive;
    let merged: Field = |b| &mut b.io_merged_recursive;
    let queued: Field = |b| &mut b.io_queued_recursive;
    let time: Field = |b| &mut b.io_time_recursive;
    let serviced: Field = |b| &mut b.io_serviced_recursive;
    let bytes: Field = |b| &mut b.io_service_bytes_recursive;
    let groups: [&[(&str, Field)]; 5] = [
        &[
            ("blkio.bfq.sectors_recursive", sectors),
            ("blkio.bfq.io_service_time_recursive", service_time),
            ("blkio.bfq.io_wait_time_recursive", wait_time),
            ("blkio.bfq.io_merged_recursive", merged),
            ("blkio.bfq.io_queued_recursive", queued),
            ("blkio.bfq.time_recursive", time),
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.bfq.io_serviced_recursive", serviced),
            ("blkio.bfq.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.sectors_recursive", sectors),
            ("blkio.io_service_time_recursive", service_time),
            ("blkio.io_wait_time_recursive", wait_time),
            ("blkio.io_merged_recursive", merged),
            ("blkio.io_queued_recursive", queued),
            ("blkio.time_recursive", time),
            ("blkio.io_serviced_recursive", serviced),
            ("blkio.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced_recursive", serviced),
            ("blkio.throttle.io_service_bytes_recursive", bytes),
        ],
        &[
            ("blkio.throttle.io_serviced", serviced),
            ("blkio.throttle.io_service_bytes", bytes),
        ],
    ];
    let mut b = stats::Blkio::default();
    for group in groups {
        for (i, (file, field)) in group.iter().enumerate() {
            let entries = util::read_opt(d, file)?
                .map(|t| stats::parse_blkio_v1(&t))
                .unwrap_or_default();
            if entries.is_empty() {
                if i == 0 {
                    break;
                }
                return Ok(b);
            }
            *field(&mut b) = entries;
            if i == group.len() - 1 {
                return Ok(b);
            }
        }
    }
    Ok(b)
}

impl V1Manager {
    pub(super) fn stats_inner(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.path("cpuacct") {
            s.cpu.usage.total = util::read_u64_or_zero(d, "cpuacct.usage")?;
            if let Some(t) = util::read_opt(d, "cpuacct.usage_percpu")? {
                s.cpu.usage.percpu = parse_u64_list(&t);
            }
            if let Some(t) = util::read_opt(d, "cpuacct.usage_percpu_sys")? {
                s.cpu.usage.percpu_kernel = parse_u64_list(&t);
            }
            if let Some(t) = util::read_opt(d, "cpuacct.usage_percpu_user")? {
                s.cpu.usage.percpu_user = parse_u64_list(&t);
            }
            if let Some(t) = util::read_opt(d, "cpuacct.stat")? {
                let m = util::parse_flat_keyed(&t);
                let hz = clock_ticks();
                let ns = |k: &str| m.get(k).copied().unwrap_or(0) * 1_000_000_000 / hz;
                s.cpu.usage.user = ns("user");
                s.cpu.usage.kernel = ns("system");
            }
        }
        if let Some(d) = self.path("cpu") {
            if let Some(t) = util::read_opt(d, "cpu.stat")? {
                let m = util::parse_flat_keyed(&t);
                let g = |k: &str| m.get(k).copied().unwrap_or(0);
                s.cpu.throttling.periods = g("nr_periods");
                s.cpu.throttling.throttled_periods = g("nr_throttled");
                s.cpu.throttling.throttled_time = g("throttled_time");
            }
        }
        if let Some(d) = self.path("cpuset") {
            if let Some(t) = util::read_opt(d, "cpuset.cpus")? {
                s.cpuset.cpus = stats::parse_cpu_list(&t);
            }
            if let Some(t) = util::read_opt(d, "cpuset.mems")? {
                s.cpuset.mems = stats::parse_cpu_list(&t);
            }
            let c = &mut s.cpuset;
            c.cpu_exclusive = util::read_u64_or_zero(d, "cpuset.cpu_exclusive")?;
            c.mem_hardwall = util::read_u64_or_zero(d, "cpuset.mem_hardwall")?;
            c.mem_exclusive = util::read_u64_or_zero(d, "cpuset.mem_exclusive")?;
            c.memory_migrate = util::read_u64_or_zero(d, "cpuset.memory_migrate")?;
            c.memory_spread_page = util::read_u64_or_zero(d, "cpuset.memory_spread_page")?;
            c.memory_spread_slab = util::read_u64_or_zero(d, "cpuset.memory_spread_slab")?;
            c.memory_pressure = util::read_u64_or_zero(d, "cpuset.memory_pressure")?;
            c.sched_load_balance = util::read_u64_or_zero(d, "cpuset.sched_load_balance")?;
            c.sched_relax_domain_level = util::read_opt(d, "cpuset.sched_relax_domain_level")?
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        }
        if let Some(d) = self.path("memory") {
            if let Some(t) = util::read_opt(d, "memory.stat")? {
                s.memory.raw = util::parse_flat_keyed(&t);
                s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
            }
            s.memory.usage = memory_entry(d, "memory.")?;
            s.memory.swap = memory_entry(d, "memory.memsw.")?;
            s.memory.kernel = memory_entry(d, "memory.kmem.")?;
            s.memory.kernel_tcp = memory_entry(d, "memory.kmem.tcp.")?;
        }
        if let Some(d) = self.path("pids") {
            s.pids.current = util::read_u64_or_zero(d, "pids.current")?;
            let max = util::read_u64_or_zero(d, "pids.max")?;
            s.pids.limit = if max == u64::MAX { 0 } else { max };
        }
        if let Some(d) = self.path("blkio") {
            s.blkio = blkio_stats_v1(d)?;
        }
        if let Some(d) = self.path("hugetlb") {
            for size in util::hugepage_sizes() {
                let p = format!("hugetlb.{size}.");
                if !d.join(format!("{p}usage_in_bytes")).exists() {
                    continue;
                }
                s.hugetlb.insert(
                    size,
                    stats::Hugetlb {
                        usage: util::read_u64_or_zero(d, &format!("{p}usage_in_bytes"))?,
                        max: util::read_u64_or_zero(d, &format!("{p}max_usage_in_bytes"))?,
                        failcnt: util::read_u64_or_zero(d, &format!("{p}failcnt"))?,
                    },
                );
            }
        } else if let Some(u) = &self.unified {
            v2::hugetlb_stats(u, &mut s.hugetlb)?;
        }
        Ok(s)
    }
}
