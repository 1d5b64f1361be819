//! cgroup v1 manager (also used on hybrid hosts, where the container additionally gets a
//! directory in the cgroup2 tree at /sys/fs/cgroup/unified; controllers that live only there,
//! such as hugetlb on our test host, are driven through it).

use super::devices;
use super::stats::{self, Stats};
use super::util::{self, io_errno};
use super::{
    fs_magic, join_cgroup, rel_to_root, v2, CgroupMount, CgroupState, HostKind, Manager,
    CGROUP_ROOT, CGROUP_SUPER_MAGIC, UNIFIED_HYBRID,
};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The container's directory in one v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Controllers field of /proc/self/cgroup, e.g. "cpu,cpuacct" or "name=systemd".
    pub key: String,
    pub controllers: Vec<String>,
    /// The hierarchy's mount point (the top of what we may touch).
    pub mount: PathBuf,
    pub path: PathBuf,
}

pub struct V1Manager {
    kind: HostKind,
    hier: Vec<Hierarchy>,
    /// Hybrid hosts: the container's directory below /sys/fs/cgroup/unified.
    unified: Option<PathBuf>,
}

/// Where a v1 hierarchy is normally mounted: /sys/fs/cgroup/<controllers> (named hierarchies:
/// /sys/fs/cgroup/<name>).
fn guess_mount(key: &str) -> PathBuf {
    let dir = key.strip_prefix("name=").unwrap_or(key);
    Path::new(CGROUP_ROOT).join(dir)
}

fn same_controllers(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

impl V1Manager {
    /// Resolve `inner` (absolute or relative to the caller's cgroups) in every mounted v1
    /// hierarchy. /proc/self/mountinfo is read only when a hierarchy is not at its usual
    /// place or is mounted from a sub-cgroup.
    pub fn resolve(inner: &str, kind: HostKind) -> Result<V1Manager> {
        let own = super::own_cgroups()?;
        let abs = inner.starts_with('/');
        let mut mounts: Option<Vec<CgroupMount>> = None;
        let mut hier = Vec::new();
        let mut unified = None;
        for c in own {
            if c.id == 0 {
                if kind == HostKind::Hybrid {
                    let base = Path::new(UNIFIED_HYBRID);
                    let p = if abs {
                        join_cgroup(base, inner)
                    } else {
                        join_cgroup(&join_cgroup(base, &c.path), inner)
                    };
                    unified = Some(p);
                }
                continue;
            }
            if c.controllers.is_empty() {
                continue;
            }
            let controllers: Vec<String> = c.controllers.split(',').map(str::to_string).collect();
            let guess = guess_mount(&c.controllers);
            let guess_ok = fs_magic(&guess) == Some(CGROUP_SUPER_MAGIC)
                && (abs || c.path == "/" || join_cgroup(&guess, &c.path).is_dir());
            let (mount, own_rel) = if guess_ok {
                (guess, c.path.clone())
            } else {
                if mounts.is_none() {
                    mounts = Some(super::cgroup_mounts()?);
                }
                let found = mounts
                    .as_ref()
                    .unwrap()
                    .iter()
                    .find(|m| !m.v2 && same_controllers(&m.controllers, &controllers))
                    .cloned();
                let Some(m) = found else {
                    // Hierarchy not mounted in our mount namespace: runc skips it too.
                    continue;
                };
                let rel = rel_to_root(&m.root, &c.path);
                (m.mountpoint, rel)
            };
            let path = if abs {
                join_cgroup(&mount, inner)
            } else {
                join_cgroup(&join_cgroup(&mount, &own_rel), inner)
            };
            hier.push(Hierarchy {
                key: c.controllers,
                controllers,
                mount,
                path,
            });
        }
        if hier.is_empty() {
            bail!("no cgroup v1 hierarchy is mounted");
        }
        Ok(V1Manager {
            kind,
            hier,
            unified,
        })
    }

    pub fn from_state(state: &CgroupState) -> V1Manager {
        let mut hier = Vec::new();
        let mut unified = None;
        for (k, p) in &state.paths {
            if k == "unified" {
                unified = Some(p.clone());
                continue;
            }
            // The mount point is the first path component below /sys/fs/cgroup (or the
            // guessed one when the path is elsewhere).
            let mount = p
                .strip_prefix(CGROUP_ROOT)
                .ok()
                .and_then(|r| r.components().next())
                .map(|c| Path::new(CGROUP_ROOT).join(c.as_os_str()))
                .unwrap_or_else(|| guess_mount(k));
            hier.push(Hierarchy {
                key: k.clone(),
                controllers: k.split(',').map(str::to_string).collect(),
                mount,
                path: p.clone(),
            });
        }
        V1Manager {
            kind: state.kind,
            hier,
            unified,
        }
    }

    pub fn hierarchies(&self) -> &[Hierarchy] {
        &self.hier
    }

    pub fn unified_path(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// The container's directory in the hierarchy that has controller `ctrl`.
    pub fn path(&self, ctrl: &str) -> Option<&Path> {
        self.hier
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == ctrl))
            .map(|h| h.path.as_path())
    }

    fn need(&self, ctrl: &str, what: &str) -> Result<&Path> {
        self.path(ctrl).with_context(|| {
            format!("cannot set {what}: the {ctrl} cgroup controller is not mounted")
        })
    }

    /// The unified directory if it has controller `ctrl` available (hybrid hosts).
    fn unified_with(&self, ctrl: &str) -> Option<&Path> {
        let u = self.unified.as_deref()?;
        let avail = util::read_opt(u, "cgroup.controllers").ok().flatten()?;
        avail.split_whitespace().any(|c| c == ctrl).then_some(u)
    }

    fn all_dirs(&self) -> impl Iterator<Item = &Path> {
        self.hier
            .iter()
            .map(|h| h.path.as_path())
            .chain(self.unified.as_deref())
    }

    fn v1_pids(&self) -> Result<Vec<i32>> {
        let mut all = Vec::new();
        for h in &self.hier {
            all.extend(util::pids_recursive(&h.path)?);
        }
        if let Some(u) = &self.unified {
            all.extend(util::pids_recursive(u)?);
        }
        all.sort_unstable();
        all.dedup();
        Ok(all)
    }

    fn freezer_dir(&self) -> Option<&Path> {
        self.path("freezer")
    }
}

/// Create a cpuset cgroup: every new level gets cpuset.cpus/mems copied from its parent (a v1
/// cpuset cgroup starts empty and refuses tasks until both are set).
fn create_cpuset(mount: &Path, path: &Path) -> Result<()> {
    let rel = path.strip_prefix(mount).unwrap_or(Path::new(""));
    let mut cur = mount.to_path_buf();
    for c in rel.components() {
        let parent = cur.clone();
        cur.push(c.as_os_str());
        let created = match std::fs::create_dir(&cur) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("failed to create cgroup {}", cur.display()))
            }
        };
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if !created {
                let mine = util::read(&cur, f)?;
                if !mine.trim().is_empty() {
                    continue;
                }
            }
            let theirs = util::read(&parent, f)?;
            if !theirs.trim().is_empty() {
                util::write(&cur, f, theirs.trim())?;
            }
        }
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("failed to create cgroup {}", path.display()))
}

fn set_memory(dir: &Path, res: &LinuxResources) -> Result<()> {
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

fn memory_wanted(res: &LinuxResources) -> bool {
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

fn set_cpu(dir: &Path, res: &LinuxResources) -> Result<()> {
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

fn cpu_wanted(res: &LinuxResources) -> bool {
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

fn cpuset_wanted(res: &LinuxResources) -> bool {
    res.cpu().as_ref().is_some_and(|c| {
        c.cpus().as_deref().is_some_and(|s| !s.is_empty())
            || c.mems().as_deref().is_some_and(|s| !s.is_empty())
    })
}

fn set_blkio(dir: &Path, res: &LinuxResources) -> Result<()> {
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

fn blkio_wanted(res: &LinuxResources) -> bool {
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

fn set_hugetlb_v1(dir: &Path, res: &LinuxResources) -> Result<()> {
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
    fn stats_inner(&self) -> Result<Stats> {
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

    fn freeze_v1(dir: &Path) -> Result<()> {
        // A v1 freeze can get stuck in FREEZING while tasks keep forking: re-request it, and
        // now and then thaw briefly to let stragglers settle (runc does the same dance).
        for i in 0..1000u32 {
            if i % 50 == 49 {
                let _ = util::write(dir, "freezer.state", "THAWED");
                std::thread::sleep(Duration::from_millis(10));
            }
            util::write(dir, "freezer.state", "FROZEN")?;
            if i % 25 == 24 {
                std::thread::sleep(Duration::from_micros(10));
            }
            let st = util::read(dir, "freezer.state")?;
            match st.trim() {
                "FROZEN" => return Ok(()),
                "FREEZING" => continue,
                other => bail!("unexpected freezer state {other:?} while freezing"),
            }
        }
        let _ = util::write(dir, "freezer.state", "THAWED");
        bail!("unable to freeze cgroup {}", dir.display())
    }
}

impl Manager for V1Manager {
    fn create(&self) -> Result<()> {
        for h in &self.hier {
            if h.controllers.iter().any(|c| c == "cpuset") {
                create_cpuset(&h.mount, &h.path)?;
            } else {
                create_dir(&h.path)?;
            }
        }
        if let Some(u) = &self.unified {
            v2::create_unified(Path::new(UNIFIED_HYBRID), u)?;
        }
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        let p = pid.to_string();
        for d in self.all_dirs() {
            util::write(d, "cgroup.procs", &p)?;
        }
        Ok(())
    }

    fn apply(&self, res: &LinuxResources) -> Result<()> {
        if cpuset_wanted(res) {
            v2::set_cpuset(self.need("cpuset", "cpus/mems")?, res)?;
        }
        if let Some(list) = res.devices() {
            let rules = devices::rules_from_oci(list)?;
            match (self.path("devices"), &self.unified) {
                (Some(d), _) => devices::apply_v1(d, &rules)?,
                // No v1 devices hierarchy: the cgroup2 device hook still applies on hybrid.
                (None, Some(u)) => super::devices_bpf::apply(u, &rules)?,
                (None, None) => {
                    bail!("cannot set device rules: the devices cgroup controller is not mounted")
                }
            }
        }
        if memory_wanted(res) {
            set_memory(self.need("memory", "memory limits")?, res)?;
        }
        if cpu_wanted(res) {
            set_cpu(self.need("cpu", "cpu limits")?, res)?;
        }
        if res.pids().is_some_and(|p| p.limit() != 0) {
            v2::set_pids(self.need("pids", "the pids limit")?, res)?;
        }
        if blkio_wanted(res) {
            set_blkio(self.need("blkio", "block IO limits")?, res)?;
        }
        if res
            .hugepage_limits()
            .as_ref()
            .is_some_and(|v| !v.is_empty())
        {
            if let Some(d) = self.path("hugetlb") {
                set_hugetlb_v1(d, res)?;
            } else if let Some(u) = self.unified_with("hugetlb") {
                v2::set_hugetlb(u, res)?;
            } else {
                bail!("cannot set hugepage limits: the hugetlb cgroup controller is not available");
            }
        }
        if let Some(n) = res.network() {
            if let Some(id) = n.class_id() {
                let d = self.need("net_cls", "the network class id")?;
                util::write(d, "net_cls.classid", &id.to_string())?;
            }
            let prios = n.priorities().as_deref().unwrap_or(&[]);
            if !prios.is_empty() {
                let d = self.need("net_prio", "network priorities")?;
                for p in prios {
                    util::write(
                        d,
                        "net_prio.ifpriomap",
                        &format!("{} {}", p.name(), p.priority()),
                    )?;
                }
            }
        }
        if !v2::rdma_lines(res).is_empty() {
            let d = match self.path("rdma") {
                Some(d) => d,
                None => self.unified_with("rdma").context(
                    "cannot set rdma limits: the rdma cgroup controller is not available",
                )?,
            };
            v2::set_rdma(d, res)?;
        }
        if res.unified().as_ref().is_some_and(|m| !m.is_empty()) {
            match &self.unified {
                Some(u) => v2::set_unified(u, res)?,
                None => bail!("invalid configuration: cannot use unified resources on cgroup v1"),
            }
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        if let Some(d) = self.freezer_dir() {
            return Self::freeze_v1(d);
        }
        match &self.unified {
            Some(u) => v2::set_frozen(u, true),
            None => bail!("cannot freeze: the freezer cgroup controller is not mounted"),
        }
    }

    fn thaw(&self) -> Result<()> {
        if let Some(d) = self.freezer_dir() {
            return util::write(d, "freezer.state", "THAWED");
        }
        match &self.unified {
            Some(u) => v2::set_frozen(u, false),
            None => bail!("cannot thaw: the freezer cgroup controller is not mounted"),
        }
    }

    fn is_frozen(&self) -> Result<bool> {
        if let Some(d) = self.freezer_dir() {
            return Ok(match util::read_opt(d, "freezer.state")? {
                Some(s) => matches!(s.trim(), "FROZEN" | "FREEZING"),
                None => false,
            });
        }
        match &self.unified {
            Some(u) => v2::is_frozen(u),
            None => Ok(false),
        }
    }

    fn pids(&self) -> Result<Vec<i32>> {
        // One hierarchy is enough when every process joined all of them; prefer the ones that
        // every container process is put in.
        for ctrl in ["freezer", "devices", "pids", "memory"] {
            if let Some(d) = self.path(ctrl) {
                return util::pids_recursive(d);
            }
        }
        self.v1_pids()
    }

    fn destroy(&self) -> Result<()> {
        // cgroup.kill of the hybrid unified directory kills the whole tree in one write.
        if let Some(u) = &self.unified {
            if u.join("cgroup.kill").exists() {
                v2::kill_all(u)?;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut delay = Duration::from_micros(500);
        loop {
            let pids = self.v1_pids()?;
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                bail!("processes still running in the container's cgroups after SIGKILL: {pids:?}");
            }
            let freezer = self.freezer_dir().filter(|d| d.exists());
            if let Some(d) = freezer {
                let _ = Self::freeze_v1(d);
            }
            let res: Result<()> = self
                .v1_pids()
                .and_then(|p| p.into_iter().try_for_each(util::sigkill));
            if let Some(d) = freezer {
                let _ = util::write(d, "freezer.state", "THAWED");
            }
            res?;
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
        let mut first_err = None;
        for d in self.all_dirs() {
            if let Err(e) = util::remove_cgroup_tree(d) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn stats(&self) -> Result<Stats> {
        self.stats_inner()
    }

    fn unified_dir(&self) -> Option<PathBuf> {
        None
    }

    fn exists(&self) -> bool {
        self.all_dirs().any(|d| d.exists())
    }

    fn state(&self) -> CgroupState {
        let mut paths = BTreeMap::new();
        for h in &self.hier {
            paths.insert(h.key.clone(), h.path.clone());
        }
        if let Some(u) = &self.unified {
            paths.insert("unified".to_string(), u.clone());
        }
        CgroupState {
            kind: self.kind,
            paths,
            systemd_unit: None,
            systemd_invocation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses() {
        assert_eq!(
            guess_mount("name=systemd"),
            PathBuf::from("/sys/fs/cgroup/systemd")
        );
        assert_eq!(
            guess_mount("cpu,cpuacct"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert!(same_controllers(
            &["cpu".into(), "cpuacct".into()],
            &["cpuacct".into(), "cpu".into()]
        ));
    }

    #[test]
    fn state_roundtrip() {
        let mut paths = BTreeMap::new();
        paths.insert(
            "cpu,cpuacct".to_string(),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a/b"),
        );
        paths.insert(
            "name=systemd".to_string(),
            PathBuf::from("/sys/fs/cgroup/systemd/a/b"),
        );
        paths.insert(
            "unified".to_string(),
            PathBuf::from("/sys/fs/cgroup/unified/a/b"),
        );
        let st = CgroupState {
            kind: HostKind::Hybrid,
            paths,
            systemd_unit: None,
            systemd_invocation: None,
        };
        let m = V1Manager::from_state(&st);
        assert_eq!(m.state(), st);
        assert_eq!(
            m.path("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/a/b"))
        );
        assert_eq!(m.hier[0].mount, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(
            m.path("name=systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd/a/b"))
        );
        assert_eq!(
            m.unified_path(),
            Some(Path::new("/sys/fs/cgroup/unified/a/b"))
        );
        let js = serde_json::to_string(&st).unwrap();
        assert!(js.contains("\"kind\":\"hybrid\""), "{js}");
    }
}
