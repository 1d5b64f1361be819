//! cgroup v2 (unified hierarchy) manager, written against
//! Documentation/admin-guide/cgroup-v2.rst. The helpers that only need a directory are also
//! used by the hybrid manager for the /sys/fs/cgroup/unified tree.

use super::devices::{self, DeviceRule};
use super::stats::{self, Stats};
use super::util::{self, io_errno};
use super::{join_cgroup, CgroupState, HostKind, Manager, CGROUP_ROOT};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Controllers that only work in "domain" cgroups (not in threaded subtrees).
const DOMAIN_CONTROLLERS: &[&str] = &["memory", "io", "hugetlb", "rdma", "misc"];

/// Resolve an inner path on a v2 host: absolute → below /sys/fs/cgroup; relative → below the
/// parent of the caller's own cgroup (runc: the caller's cgroup usually holds processes, so a
/// sibling is used to be able to enable controllers).
pub fn resolve_path(inner: &str) -> Result<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    if inner.starts_with('/') {
        return Ok(join_cgroup(root, inner));
    }
    let own = super::own_cgroups()?
        .into_iter()
        .find(|c| c.id == 0 && c.controllers.is_empty())
        .map(|c| c.path)
        .ok_or_else(|| anyhow!("no cgroup v2 entry in /proc/self/cgroup"))?;
    let parent = match own.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => own[..i].to_string(),
    };
    Ok(join_cgroup(&join_cgroup(root, &parent), inner))
}

fn split_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Create `path` (below the cgroup2 mount `root`) and enable every controller available along
/// the way in each ancestor's cgroup.subtree_control, as runc does. Only writes what is
/// missing. Errors enabling a controller are ignored here (a later write of that controller's
/// file reports them). Returns the directories that were created (outermost first).
pub(crate) fn create_unified(root: &Path, path: &Path) -> Result<Vec<PathBuf>> {
    let rel = path
        .strip_prefix(root)
        .with_context(|| format!("{} is not below {}", path.display(), root.display()))?;
    let mut created = Vec::new();
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in comps.iter() {
        // Enable in `cur` (the parent of the next level) whatever it has but does not delegate.
        enable_all_in(&cur);
        cur.push(c.as_os_str());
        match std::fs::create_dir(&cur) {
            Ok(()) => created.push(cur.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                for d in created.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("failed to create cgroup {}", cur.display()));
            }
        }
        fix_cgroup_type(&cur);
    }
    Ok(created)
}

/// A cgroup in a threaded subtree can be "domain invalid"; like runc, turn it into a threaded
/// cgroup (only thread-aware controllers will work there; their writes report the rest).
fn fix_cgroup_type(dir: &Path) {
    if let Ok(Some(t)) = util::read_opt(dir, "cgroup.type") {
        if t.trim() == "domain invalid" {
            let _ = util::write(dir, "cgroup.type", "threaded");
        }
    }
}

fn enable_all_in(dir: &Path) {
    let Ok(Some(avail)) = util::read_opt(dir, "cgroup.controllers") else {
        return;
    };
    let enabled = util::read_opt(dir, "cgroup.subtree_control")
        .ok()
        .flatten()
        .unwrap_or_default();
    let enabled = split_words(&enabled);
    let missing: Vec<String> = split_words(&avail)
        .into_iter()
        .filter(|c| !enabled.contains(c))
        .collect();
    if missing.is_empty() {
        return;
    }
    let all = missing
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    if util::write(dir, "cgroup.subtree_control", &all).is_err() {
        for c in &missing {
            let _ = util::write(dir, "cgroup.subtree_control", &format!("+{c}"));
        }
    }
}

/// "max" for -1, the number otherwise; None for 0 (unset), like runc's numToStr.
fn num_or_max(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".to_string()),
        v => Some(v.to_string()),
    }
}

pub(crate) fn set_memory(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(m) = res.memory() else {
        return Ok(());
    };
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    if limit == 0 && swap == 0 && reservation == 0 {
        return Ok(());
    }
    if m.check_before_update().unwrap_or(false) && limit > 0 {
        let usage = util::read_u64(dir, "memory.current")?;
        if limit as u64 <= usage {
            bail!("rejecting memory limit {limit} below usage {usage}");
        }
    }
    let swap_v2 = super::swap_to_v2(swap, limit)?;
    let mut swap_str = num_or_max(swap_v2);
    if swap_str.is_none() && swap_v2 == 0 && swap > 0 {
        // memory and memory+swap set to the same value: no swap.
        swap_str = Some("0".to_string());
    }
    if let Some(s) = swap_str {
        if let Err(e) = util::write(dir, "memory.swap.max", &s) {
            // Without swap accounting, "max" or "0" is what the kernel does anyway.
            if !(io_errno(&e) == Some(libc::ENOENT) && (s == "max" || s == "0")) {
                return Err(e);
            }
        }
    }
    if let Some(v) = num_or_max(limit) {
        util::write(dir, "memory.max", &v)?;
    }
    if let Some(v) = num_or_max(reservation) {
        util::write(dir, "memory.low", &v)?;
    }
    Ok(())
}

pub(crate) fn set_cpu(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(c) = res.cpu() else {
        return Ok(());
    };
    if c.realtime_runtime().unwrap_or(0) != 0 || c.realtime_period().unwrap_or(0) != 0 {
        bail!("realtime cpu scheduling (realtimeRuntime/realtimePeriod) is not supported on cgroup v2");
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        util::write(
            dir,
            "cpu.weight",
            &super::shares_to_weight(shares).to_string(),
        )?;
    }
    if let Some(idle) = c.idle() {
        util::write(dir, "cpu.idle", &idle.to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let mut burst_later = None;
    if let Some(b) = c.burst() {
        let b = b.to_string();
        if let Err(e) = util::write(dir, "cpu.max.burst", &b) {
            // A burst above the old quota is rejected; retry after setting the quota.
            if io_errno(&e) != Some(libc::EINVAL) || quota == 0 {
                return Err(e);
            }
            burst_later = Some(b);
        }
    }
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else if quota == 0 {
            // Only the period changes (update --cpu-period): keep the current quota, which
            // "max <period>" would lift.
            util::read(dir, "cpu.max")?
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            v.push(' ');
            v.push_str(&period.to_string());
        }
        util::write(dir, "cpu.max", &v)?;
        if let Some(b) = burst_later {
            util::write(dir, "cpu.max.burst", &b)?;
        }
    }
    Ok(())
}

pub(crate) fn set_cpuset(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(c) = res.cpu() else {
        return Ok(());
    };
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        util::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        util::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(crate) fn set_pids(dir: &Path, res: &LinuxResources) -> Result<()> {
    match res.pids() {
        Some(p) => util::write(dir, "pids.max", &pids_max(p.limit())),
        None => Ok(()),
    }
}

/// `pids.limit` as the value of pids.max: negative is no limit; 0 is written as 1, runc's
/// rule (since 1.4): the two allow exactly the same (a process in the cgroup cannot fork),
/// and systemd's TasksMax has no 0.
pub(crate) fn pids_max(limit: i64) -> String {
    match limit {
        ..0 => "max".to_string(),
        0 => "1".to_string(),
        n => n.to_string(),
    }
}

pub(crate) fn set_io(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(b) = res.block_io() else {
        return Ok(());
    };
    let weight = b.weight().unwrap_or(0);
    let wdevs = b.weight_device().as_deref().unwrap_or(&[]);
    let bfq = dir.join("io.bfq.weight").exists();
    if weight != 0 {
        if bfq {
            util::write(dir, "io.bfq.weight", &weight.to_string())?;
        } else {
            let v = super::blkio_weight_to_io_weight(weight as u64);
            util::write(dir, "io.weight", &v.to_string())?;
        }
    }
    for wd in wdevs {
        if let Some(w) = wd.weight() {
            if bfq {
                util::write(
                    dir,
                    "io.bfq.weight",
                    &format!("{}:{} {}", wd.major(), wd.minor(), w),
                )?;
            } else {
                let v = super::blkio_weight_to_io_weight(w as u64);
                util::write(
                    dir,
                    "io.weight",
                    &format!("{}:{} {}", wd.major(), wd.minor(), v),
                )?;
            }
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.as_deref().unwrap_or(&[]) {
            // 0 means "no limit" in the OCI/v1 semantics.
            let rate = if t.rate() == 0 {
                "max".to_string()
            } else {
                t.rate().to_string()
            };
            util::write(
                dir,
                "io.max",
                &format!("{}:{} {}={}", t.major(), t.minor(), key, rate),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn set_hugetlb(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(list) = res.hugepage_limits() else {
        return Ok(());
    };
    let mut skip_rsvd = false;
    for h in list {
        let v = h.limit().to_string();
        let prefix = format!("hugetlb.{}", h.page_size());
        util::write(dir, &format!("{prefix}.max"), &v)?;
        if skip_rsvd {
            continue;
        }
        if let Err(e) = util::write(dir, &format!("{prefix}.rsvd.max"), &v) {
            if io_errno(&e) == Some(libc::ENOENT) {
                skip_rsvd = true;
            } else {
                return Err(e);
            }
        }
    }
    Ok(())
}

pub(crate) fn rdma_lines(res: &LinuxResources) -> Vec<String> {
    let Some(map) = res.rdma() else {
        return Vec::new();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|dev| {
            let r = &map[dev];
            let mut s = dev.clone();
            if let Some(h) = r.hca_handles() {
                s.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = r.hca_objects() {
                s.push_str(&format!(" hca_object={o}"));
            }
            (s.len() > dev.len()).then_some(s)
        })
        .collect()
}

pub(crate) fn set_rdma(dir: &Path, res: &LinuxResources) -> Result<()> {
    for line in rdma_lines(res) {
        util::write(dir, "rdma.max", &line)?;
    }
    Ok(())
}

/// Write linux.resources.unified verbatim. Keys are file names in the cgroup directory.
pub(crate) fn set_unified(dir: &Path, res: &LinuxResources) -> Result<()> {
    let Some(map) = res.unified() else {
        return Ok(());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        if k.contains('/') || k.starts_with('.') || k.is_empty() {
            bail!("unified resource {k:?} must be a file name in the cgroup directory");
        }
        let v = &map[k];
        if let Err(e) = util::write(dir, k, v) {
            if io_errno(&e) == Some(libc::ENOENT) {
                // Name the controller when it is not enabled for this cgroup.
                if let Some((ctrl, _)) = k.split_once('.') {
                    let avail = util::read_opt(dir, "cgroup.controllers")?.unwrap_or_default();
                    if ctrl != "cgroup" && !split_words(&avail).iter().any(|c| c == ctrl) {
                        return Err(e.context(format!(
                            "unified resource {k:?}: controller {ctrl:?} is not available in {}",
                            dir.display()
                        )));
                    }
                }
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Freeze (or thaw) via cgroup.freeze and wait for cgroup.events to say so.
pub(crate) fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    util::write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let want = u64::from(frozen);
    let ok = util::wait_until(Duration::from_secs(10), || {
        let ev = util::parse_flat_keyed(&util::read(dir, "cgroup.events")?);
        Ok(ev.get("frozen").copied().unwrap_or(0) == want)
    })?;
    if !ok {
        if frozen {
            let _ = util::write(dir, "cgroup.freeze", "0");
        }
        bail!(
            "timed out waiting for cgroup {} to become {}",
            dir.display(),
            if frozen { "frozen" } else { "thawed" }
        );
    }
    Ok(())
}

pub(crate) fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(util::read_opt(dir, "cgroup.freeze")?
        .map(|s| s.trim() == "1")
        .unwrap_or(false))
}

pub(crate) fn populated(dir: &Path) -> Result<bool> {
    match util::read_opt(dir, "cgroup.events")? {
        Some(s) => Ok(util::parse_flat_keyed(&s)
            .get("populated")
            .copied()
            .unwrap_or(0)
            != 0),
        None => Ok(false),
    }
}

/// Kill every process in `dir` and its descendants and wait until it is empty.
pub(crate) fn kill_all(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    let has_kill = dir.join("cgroup.kill").exists();
    if has_kill {
        util::write(dir, "cgroup.kill", "1")?;
    } else {
        kill_by_pids(dir)?;
    }
    let mut rounds = 0u32;
    let ok = util::wait_until(Duration::from_secs(10), || {
        rounds += 1;
        if !populated(dir)? {
            return Ok(true);
        }
        // Processes forked while we were killing: kill again now and then.
        if rounds % 8 == 0 {
            if has_kill {
                util::write(dir, "cgroup.kill", "1")?;
            } else {
                kill_by_pids(dir)?;
            }
        }
        Ok(false)
    })?;
    if !ok {
        bail!(
            "processes still running in cgroup {} after SIGKILL: {:?}",
            dir.display(),
            util::pids_recursive(dir)?
        );
    }
    Ok(())
}

/// Without cgroup.kill (kernel < 5.14): freeze, SIGKILL every pid, thaw.
fn kill_by_pids(dir: &Path) -> Result<()> {
    let can_freeze = dir.join("cgroup.freeze").exists();
    if can_freeze {
        let _ = util::write(dir, "cgroup.freeze", "1");
    }
    let res = util::pids_recursive(dir).and_then(|pids| {
        for p in pids {
            util::sigkill(p)?;
        }
        Ok(())
    });
    if can_freeze {
        let _ = util::write(dir, "cgroup.freeze", "0");
    }
    res
}

pub(crate) fn hugetlb_stats(dir: &Path, out: &mut BTreeMap<String, stats::Hugetlb>) -> Result<()> {
    for size in util::hugepage_sizes() {
        let Some(cur) = util::read_opt(dir, &format!("hugetlb.{size}.current"))? else {
            continue;
        };
        let usage = util::parse_u64(&cur)?;
        let failcnt = util::read_opt(dir, &format!("hugetlb.{size}.events"))?
            .map(|s| util::parse_flat_keyed(&s).get("max").copied().unwrap_or(0))
            .unwrap_or(0);
        out.insert(
            size,
            stats::Hugetlb {
                usage,
                max: 0,
                failcnt,
            },
        );
    }
    Ok(())
}

/// A cgroup v2 container cgroup.
pub struct V2Manager {
    root: PathBuf,
    path: PathBuf,
}

impl V2Manager {
    pub fn new(path: PathBuf) -> V2Manager {
        V2Manager {
            root: PathBuf::from(CGROUP_ROOT),
            path,
        }
    }

    /// A manager for `path` below another cgroup2 mount `root` (tests use the hybrid
    /// /sys/fs/cgroup/unified tree to exercise the v2 code on a hybrid host).
    pub fn with_root(root: PathBuf, path: PathBuf) -> V2Manager {
        V2Manager { root, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn stats_inner(&self) -> Result<Stats> {
        let d = &self.path;
        let mut s = Stats::default();
        // cpu
        if let Some(t) = util::read_opt(d, "cpu.stat")? {
            let m = util::parse_flat_keyed(&t);
            let g = |k: &str| m.get(k).copied().unwrap_or(0);
            s.cpu.usage.total = g("usage_usec") * 1000;
            s.cpu.usage.user = g("user_usec") * 1000;
            s.cpu.usage.kernel = g("system_usec") * 1000;
            s.cpu.throttling.periods = g("nr_periods");
            s.cpu.throttling.throttled_periods = g("nr_throttled");
            s.cpu.throttling.throttled_time = g("throttled_usec") * 1000;
        }
        if let Some(p) = util::read_opt(d, "cpu.pressure")? {
            s.cpu.psi = Some(util::parse_psi(&p));
        }
        // cpuset
        if let Some(c) = util::read_opt(d, "cpuset.cpus.effective")? {
            s.cpuset.cpus = stats::parse_cpu_list(&c);
        }
        if let Some(c) = util::read_opt(d, "cpuset.mems.effective")? {
            s.cpuset.mems = stats::parse_cpu_list(&c);
        }
        // memory
        if let Some(t) = util::read_opt(d, "memory.stat")? {
            let raw = util::parse_flat_keyed(&t);
            s.memory.cache = raw.get("file").copied().unwrap_or(0);
            s.memory.raw = raw;
            s.memory.usage.usage = util::read_u64_or_zero(d, "memory.current")?;
            s.memory.usage.limit = util::read_u64_or_zero(d, "memory.max")?;
            s.memory.usage.max = util::read_u64_or_zero(d, "memory.peak")?;
            if let Some(ev) = util::read_opt(d, "memory.events")? {
                s.memory.usage.failcnt =
                    util::parse_flat_keyed(&ev).get("max").copied().unwrap_or(0);
            }
            // runc reports swap as memory+swap (the v1 memsw semantics).
            if let Some(sc) = util::read_opt(d, "memory.swap.current")? {
                let swap = util::parse_u64(&sc)?;
                let swap_max = util::read_u64_or_zero(d, "memory.swap.max")?;
                s.memory.swap.usage = swap.saturating_add(s.memory.usage.usage);
                s.memory.swap.limit = swap_max.saturating_add(s.memory.usage.limit);
                // memory.swap.peak is swap alone and cannot be combined with the memory peak
                // into a mem+swap peak: runc reports 0, so do we.
            }
        }
        if let Some(p) = util::read_opt(d, "memory.pressure")? {
            s.memory.psi = Some(util::parse_psi(&p));
        }
        // pids
        if let Some(c) = util::read_opt(d, "pids.current")? {
            s.pids.current = util::parse_u64(&c)?;
            let max = util::read_u64_or_zero(d, "pids.max")?;
            s.pids.limit = if max == u64::MAX { 0 } else { max };
        }
        // io
        if let Some(t) = util::read_opt(d, "io.stat")? {
            let (bytes, ios) = stats::parse_io_stat_v2(&t);
            s.blkio.io_service_bytes_recursive = bytes;
            s.blkio.io_serviced_recursive = ios;
        }
        if let Some(p) = util::read_opt(d, "io.pressure")? {
            s.blkio.psi = Some(util::parse_psi(&p));
        }
        hugetlb_stats(d, &mut s.hugetlb)?;
        Ok(s)
    }
}

impl Manager for V2Manager {
    fn create(&self) -> Result<()> {
        create_unified(&self.root, &self.path).map(|_| ())
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        util::write(&self.path, "cgroup.procs", &pid.to_string())
    }

    fn apply(&self, res: &LinuxResources) -> Result<()> {
        let d = &self.path;
        set_pids(d, res)?;
        set_memory(d, res)?;
        set_io(d, res)?;
        set_cpu(d, res)?;
        if let Some(list) = res.devices() {
            let rules = devices::rules_from_oci(list)?;
            apply_devices(d, &rules)?;
        }
        set_cpuset(d, res)?;
        set_hugetlb(d, res)?;
        set_rdma(d, res)?;
        set_unified(d, res)?;
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        set_frozen(&self.path, true)
    }

    fn thaw(&self) -> Result<()> {
        set_frozen(&self.path, false)
    }

    fn is_frozen(&self) -> Result<bool> {
        is_frozen(&self.path)
    }

    fn pids(&self) -> Result<Vec<i32>> {
        util::pids_recursive(&self.path)
    }

    fn destroy(&self) -> Result<()> {
        // Nothing left in it (the usual case after the init exited): one rmdir does it.
        if util::rmdir_if_empty([self.path.as_path()]) {
            return Ok(());
        }
        kill_all(&self.path)?;
        util::remove_cgroup_tree(&self.path)
    }

    fn stats(&self) -> Result<Stats> {
        self.stats_inner()
    }

    fn exists(&self) -> bool {
        self.path.exists()
    }

    fn state(&self) -> CgroupState {
        let mut paths = BTreeMap::new();
        paths.insert(String::new(), self.path.clone());
        CgroupState {
            kind: HostKind::V2,
            paths,
            systemd_unit: None,
            systemd_invocation: None,
            systemd_user: false,
        }
    }
}

/// Device rules on v2 are enforced by an eBPF program attached to the cgroup.
fn apply_devices(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    super::devices_bpf::apply(dir, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rdma() {
        let r = res(r#"{"rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000},"a":{}}}"#);
        assert_eq!(rdma_lines(&r), vec!["mlx5_1 hca_handle=3 hca_object=10000"]);
    }

    #[test]
    fn writes_in_tempdir() {
        // The setters only write files; exercise them on a plain directory.
        let dir = std::env::temp_dir().join(format!("hull-cg-v2-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        struct Rm(PathBuf);
        impl Drop for Rm {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _g = Rm(dir.clone());
        for f in [
            "memory.max",
            "memory.swap.max",
            "memory.low",
            "cpu.weight",
            "cpu.max",
            "cpu.max.burst",
            "pids.max",
            "io.weight",
            "io.max",
            "hugetlb.2MB.max",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let r = res(
            r#"{"memory":{"limit":1048576,"swap":3145728,"reservation":4096},
                "cpu":{"shares":1024,"quota":50000,"period":100000,"burst":1000},
                "pids":{"limit":-1},
                "blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}]},
                "hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}"#,
        );
        set_memory(&dir, &r).unwrap();
        set_cpu(&dir, &r).unwrap();
        set_pids(&dir, &r).unwrap();
        set_io(&dir, &r).unwrap();
        set_hugetlb(&dir, &r).unwrap();
        let rd = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(rd("memory.max"), "1048576");
        assert_eq!(rd("memory.swap.max"), "2097152");
        assert_eq!(rd("memory.low"), "4096");
        assert_eq!(rd("cpu.weight"), "39");
        assert_eq!(rd("cpu.max"), "50000 100000");
        assert_eq!(rd("cpu.max.burst"), "1000");
        assert_eq!(rd("pids.max"), "max");
        assert_eq!(rd("io.weight"), (1 + 490 * 9999 / 990).to_string());
        assert_eq!(rd("io.max"), "8:0 rbps=1000");
        assert_eq!(rd("hugetlb.2MB.max"), "4194304");

        let r = res(r#"{"memory":{"limit":-1},"cpu":{"quota":-1}}"#);
        set_memory(&dir, &r).unwrap();
        set_cpu(&dir, &r).unwrap();
        assert_eq!(rd("memory.max"), "max");
        assert_eq!(rd("memory.swap.max"), "max");
        assert_eq!(rd("cpu.max"), "max");

        let r = res(r#"{"memory":{"limit":1000,"swap":1000}}"#);
        set_memory(&dir, &r).unwrap();
        assert_eq!(rd("memory.swap.max"), "0");

        let r = res(r#"{"cpu":{"realtimeRuntime":1000}}"#);
        assert!(set_cpu(&dir, &r).is_err());

        let r = res(r#"{"unified":{"../x":"1"}}"#);
        assert!(set_unified(&dir, &r).is_err());
        let r = res(r#"{"unified":{"memory.high":"1"}}"#);
        std::fs::write(dir.join("memory.high"), "").unwrap();
        set_unified(&dir, &r).unwrap();
        assert_eq!(rd("memory.high"), "1");
    }
}
