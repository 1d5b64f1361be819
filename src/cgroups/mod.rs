#![allow(dead_code)]
//! cgroup managers for hull: cgroupfs v1, hybrid (v1 controllers + a cgroup2 mount at
//! /sys/fs/cgroup/unified) and v2 (unified hierarchy).
//!
//! Entry points:
//! - [`host_kind`] detects the host layout with one or two `statfs` calls (cached).
//! - [`new_manager`] resolves `linux.cgroupsPath` the way runc's cgroupfs driver does and returns a
//!   [`Manager`]; [`Manager::state`] gives the resolved paths to store in the container state so that
//!   later commands ([`load_manager`]) need no /proc parsing and do not depend on the caller's cgroup.

pub mod dbus;
pub mod devices;
pub mod devices_bpf;
#[cfg(test)]
mod parse_fuzz_tests;
#[cfg(test)]
mod root_tests;
pub mod rootless;
pub mod stats;
pub mod systemd;
mod util;
pub mod v1;
pub mod v2;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[allow(unused_imports)]
pub use devices::{default_allowed_devices, DeviceRule};
pub use stats::Stats;

/// Where cgroup filesystems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The cgroup2 mount of a hybrid host.
pub const UNIFIED_HYBRID: &str = "/sys/fs/cgroup/unified";

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Layout of the host's cgroup filesystems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    /// Only v1 hierarchies under /sys/fs/cgroup/<controller>.
    V1,
    /// v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup2 mounted at /sys/fs/cgroup.
    V2,
}

/// `statfs(2)` f_type of `path`, or None when it cannot be stat'ed.
pub(crate) fn fs_magic(path: &Path) -> Option<i64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid NUL-terminated string, st is a valid out pointer.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    Some(st.f_type as i64)
}

fn detect_host_kind() -> Result<HostKind> {
    match fs_magic(Path::new(CGROUP_ROOT)) {
        Some(CGROUP2_SUPER_MAGIC) => Ok(HostKind::V2),
        Some(TMPFS_MAGIC) => {
            if fs_magic(Path::new(UNIFIED_HYBRID)) == Some(CGROUP2_SUPER_MAGIC) {
                Ok(HostKind::Hybrid)
            } else {
                Ok(HostKind::V1)
            }
        }
        Some(CGROUP_SUPER_MAGIC) => Ok(HostKind::V1),
        Some(other) => bail!(
            "{CGROUP_ROOT} is neither a cgroup2 nor a tmpfs mount (filesystem magic {other:#x})"
        ),
        None => bail!(
            "cannot statfs {CGROUP_ROOT}: {}: is the cgroup filesystem mounted?",
            std::io::Error::last_os_error()
        ),
    }
}

/// Detects (once per process) whether the host uses cgroup v1, hybrid or v2.
pub fn host_kind() -> Result<HostKind> {
    static KIND: OnceLock<HostKind> = OnceLock::new();
    if let Some(k) = KIND.get() {
        return Ok(*k);
    }
    let k = detect_host_kind()?;
    Ok(*KIND.get_or_init(|| k))
}

/// Operations hull needs on a container's cgroup(s).
pub trait Manager {
    /// Create the cgroup directories (in every mounted v1 hierarchy / the unified tree); on v2
    /// enable the available controllers in the parents' cgroup.subtree_control.
    fn create(&self) -> Result<()>;
    /// Move `pid` into the cgroup (cgroup.procs in every hierarchy).
    fn add_pid(&self, pid: i32) -> Result<()>;
    /// Apply resources (at create time and for `update`). Values the kernel rejects give an
    /// error naming the file and the value.
    fn apply(&self, res: &LinuxResources) -> Result<()>;
    /// Freeze every process of the cgroup and wait until the kernel reports it frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaw the cgroup.
    fn thaw(&self) -> Result<()>;
    /// Whether the cgroup is frozen (or freezing).
    fn is_frozen(&self) -> Result<bool>;
    /// All processes in the cgroup, including sub-cgroups.
    fn pids(&self) -> Result<Vec<i32>>;
    /// Kill everything left (cgroup.kill where available, else freeze + SIGKILL + thaw), wait
    /// until empty and remove every directory (children first), retrying EBUSY with backoff.
    /// A cgroup that does not exist (any more) is not an error.
    fn destroy(&self) -> Result<()>;
    /// Statistics in the shape of runc's `events --stats` "data" object.
    fn stats(&self) -> Result<Stats>;
    /// Whether the cgroup directory exists.
    fn exists(&self) -> bool;
    /// Resolved paths, to store in the container state (see [`load_manager`]).
    fn state(&self) -> CgroupState;

    /// Send `sig` to every process of the cgroup (`kill --all`). Like runc, the cgroup is frozen
    /// while the pids are read and signalled, so that nothing forks away, and then thawed, also
    /// when it was frozen before (a paused container is resumed: frozen tasks could not act on
    /// the signal, and frozen v1 tasks do not even die of SIGKILL). A pid that is gone already
    /// is not an error; other failures do not stop the rest from being signalled.
    fn signal_all(&self, sig: i32) -> Result<()> {
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze = !was_frozen && self.freeze().is_ok();
        let res = self.pids().and_then(|pids| {
            let mut first_err = None;
            for pid in pids {
                // SAFETY: plain kill(2).
                if unsafe { libc::kill(pid, sig) } != 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::ESRCH) && first_err.is_none() {
                        first_err = Some(anyhow::anyhow!("failed to signal pid {pid}: {e}"));
                    }
                }
            }
            first_err.map_or(Ok(()), Err)
        });
        if froze || was_frozen {
            let thawed = self.thaw();
            res?;
            return thawed;
        }
        res
    }

    /// Whether the parent must place the init with [`Manager::add_pid`] while the init waits
    /// (systemd: the scope unit can only be created with the init's pid).
    fn parent_places(&self) -> bool {
        false
    }
    /// The spec's annotations, before [`Manager::create`] (systemd: unit properties from
    /// "org.systemd.property.<Name>" annotations, as runc). Invalid ones are an error.
    fn set_annotations(
        &self,
        _annotations: &std::collections::HashMap<String, String>,
    ) -> Result<()> {
        Ok(())
    }
}

/// Resolved cgroup paths of a container, serialisable into the container's state file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupState {
    pub kind: HostKind,
    /// v1/hybrid: hierarchy (e.g. "cpu,cpuacct", "name=systemd", "unified") → directory.
    /// v2: "" → directory.
    pub paths: BTreeMap<String, PathBuf>,
    /// With the systemd driver: the container's unit ("hull-<id>.scope"). Absent in state
    /// files of cgroupfs containers (and of older hull versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
    /// The unit's InvocationID (hex) once this container started it: later commands only
    /// kill or stop the unit while it is still this invocation (a unit of the same name may
    /// belong to another container by then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_invocation: Option<String>,
    /// The unit is in the user's systemd instance (rootless `--systemd-cgroup`): later
    /// commands reach it over the user's bus.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub systemd_user: bool,
}

impl CgroupState {
    /// The files a new container process (init or exec, both single-threaded: forks of
    /// single-threaded hull) writes "0" into to join the container's cgroups. On a v1
    /// hierarchy that is `tasks`, not `cgroup.procs`: moving only the calling thread lets the
    /// kernel skip the global threadgroup lock, whose write side waits for an RCU grace period
    /// (Linux 6.0+, "cgroup: Optimize single thread migration"). That wait was the largest
    /// single step of create on a loaded v1 host (5-25 ms). cgroup v2 only takes whole
    /// processes (`cgroup.threads` is for threaded subtrees).
    pub fn join_files(&self) -> Vec<PathBuf> {
        self.paths
            .iter()
            .map(|(hierarchy, dir)| match hierarchy.as_str() {
                "" | "unified" => dir.join("cgroup.procs"),
                _ => dir.join("tasks"),
            })
            .collect()
    }
}

/// Rebuilds a manager from paths stored by [`Manager::state`] (no /proc parsing).
pub fn load_manager(state: &CgroupState) -> Result<Box<dyn Manager>> {
    if let Some(unit) = &state.systemd_unit {
        return Ok(Box::new(systemd::SystemdManager::from_state(state, unit)?));
    }
    match state.kind {
        HostKind::V2 => {
            let p = state
                .paths
                .get("")
                .context("cgroup state has no unified path")?;
            Ok(Box::new(v2::V2Manager::new(p.clone())))
        }
        HostKind::V1 | HostKind::Hybrid => Ok(Box::new(v1::V1Manager::from_state(state))),
    }
}

/// Clean a cgroup path the way runc's `utils.CleanPath` does: lexically clean it, and for a
/// relative path make sure it cannot climb out with "..". Returns "" for "".
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return String::new();
    }
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if abs {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// The inner cgroup path for a container, as runc's cgroupfs driver computes it: the cleaned
/// cgroupsPath, or the container id (relative to the caller's cgroup) when there is none.
pub fn inner_path(cgroups_path: Option<&str>, container_id: &str) -> String {
    match cgroups_path {
        Some(p) if !p.is_empty() => clean_path(p),
        _ => clean_path(container_id),
    }
}

/// The manager of a container's cgroup as its config names it (linux.cgroupsPath, the
/// annotations systemd units carry); nothing is created yet.
pub fn manager_for_spec(
    spec: &oci_spec::runtime::Spec,
    id: &str,
    systemd: bool,
    rootless: bool,
) -> Result<Box<dyn Manager>> {
    let cgroups_path = (spec.linux().as_ref())
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let cgroup = new_manager(cgroups_path.as_deref(), id, systemd, rootless)?;
    if let Some(a) = spec.annotations() {
        cgroup.set_annotations(a)?;
    }
    Ok(cgroup)
}

/// The cgroup v2 directory of a cgroup.procs file, opened for clone3(CLONE_INTO_CGROUP);
/// None for a v1 hierarchy's file (`tasks`, or a cgroup.procs on a v1 mount) or when it cannot
/// be opened (the caller then joins by writing the file, with that path's errors).
pub fn v2_dir_of_procs(procs: &Path) -> Option<std::os::fd::OwnedFd> {
    const CGROUP2_SUPER_MAGIC: libc::c_long = 0x6367_7270;
    if procs.file_name()? != "cgroup.procs" {
        return None;
    }
    let dir = std::os::fd::OwnedFd::from(std::fs::File::open(procs.parent()?).ok()?);
    (crate::util::path::fs_magic(&dir).ok()? == CGROUP2_SUPER_MAGIC).then_some(dir)
}

/// Returns a manager for the container's cgroup.
///
/// `cgroups_path` is linux.cgroupsPath: absolute (below the cgroup mount), or relative to the
/// caller's own cgroup (v1: per hierarchy; v2: relative to the parent of the caller's cgroup, as
/// runc does). With None the path is the container id, relative, exactly like runc's cgroupfs
/// driver (e.g. /sys/fs/cgroup/memory/<caller's memory cgroup>/<id>).
///
/// With `systemd` and `rootless` the unit goes to the user's systemd instance.
pub fn new_manager(
    cgroups_path: Option<&str>,
    container_id: &str,
    systemd: bool,
    rootless: bool,
) -> Result<Box<dyn Manager>> {
    if systemd {
        if !systemd::is_running() {
            bail!("systemd not running on this host, cannot use systemd cgroups manager");
        }
        return Ok(Box::new(systemd::SystemdManager::new(
            cgroups_path,
            container_id,
            host_kind()?,
            rootless,
        )?));
    }
    let inner = inner_path(cgroups_path, container_id);
    if inner == "/" || inner == "." {
        bail!(
            "invalid cgroups path {:?}: refusing to use the root cgroup",
            cgroups_path
        );
    }
    match host_kind()? {
        HostKind::V2 => Ok(Box::new(v2::V2Manager::new(v2::resolve_path(&inner)?))),
        kind => Ok(Box::new(v1::V1Manager::resolve(&inner, kind)?)),
    }
}

/// One line of /proc/<pid>/cgroup: hierarchy id, controllers field, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcCgroup {
    pub id: u32,
    pub controllers: String,
    pub path: String,
}

pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let id = it.next()?.parse().ok()?;
            let controllers = it.next()?.to_string();
            let path = it.next()?.to_string();
            Some(ProcCgroup {
                id,
                controllers,
                path,
            })
        })
        .collect()
}

pub(crate) fn own_cgroups() -> Result<Vec<ProcCgroup>> {
    let text = std::fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    Ok(parse_proc_cgroup(&text))
}

/// A cgroup mount from /proc/self/mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CgroupMount {
    pub mountpoint: PathBuf,
    /// Root of the mount inside the hierarchy ("/" unless bind-mounted from a sub-cgroup).
    pub root: String,
    /// v1: super options that name controllers (e.g. ["cpu","cpuacct"], ["name=systemd"]).
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// Undo the octal escapes of mountinfo fields (\040 for space etc.).
fn unescape_mountinfo(s: &str) -> String {
    crate::util::mountinfo::unescape(s)
}

const V1_KNOWN_OPTS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
    "debug",
];

pub(crate) fn parse_mountinfo_cgroups(text: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let _source = r.next();
        let superopts = r.next().unwrap_or("");
        let v2 = match fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let f: Vec<&str> = left.split(' ').collect();
        if f.len() < 5 {
            continue;
        }
        let controllers = if v2 {
            Vec::new()
        } else {
            superopts
                .split(',')
                .filter(|o| o.starts_with("name=") || V1_KNOWN_OPTS.contains(o))
                .map(str::to_string)
                .collect()
        };
        out.push(CgroupMount {
            mountpoint: PathBuf::from(unescape_mountinfo(f[4])),
            root: unescape_mountinfo(f[3]),
            controllers,
            v2,
        });
    }
    out
}

pub(crate) fn cgroup_mounts() -> Result<Vec<CgroupMount>> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(parse_mountinfo_cgroups(&text))
}

/// Join a cgroup path ("/a/b" or "a/b") below `base`.
pub(crate) fn join_cgroup(base: &Path, p: &str) -> PathBuf {
    let rel = p.trim_start_matches('/');
    if rel.is_empty() || rel == "." {
        base.to_path_buf()
    } else {
        base.join(rel)
    }
}

/// `cgroup` relative to the mount `root` (both hierarchy paths), as runc's filepath.Rel use.
pub(crate) fn rel_to_root(root: &str, cgroup: &str) -> String {
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return cgroup.to_string();
    }
    match cgroup.strip_prefix(root) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_string(),
        _ => cgroup.to_string(),
    }
}

/// runc's conversion of cgroup v1 cpu.shares (2..262144) to cgroup v2 cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// runc's conversion of blkio.weight (10..1000) to io.weight (1..10000).
pub fn blkio_weight_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = w.clamp(10, 1000);
    1 + (w - 10) * 9999 / 990
}

/// runc's conversion of the OCI memory.swap (memory+swap) limit into cgroup v2 memory.swap.max.
/// 0 = leave unset, -1 = "max".
pub fn swap_to_v2(memory_swap: i64, memory: i64) -> Result<i64> {
    if memory == -1 && memory_swap == 0 {
        return Ok(-1);
    }
    if memory_swap == -1 || memory_swap == 0 {
        return Ok(memory_swap);
    }
    if memory == 0 || memory == -1 {
        bail!("unable to set swap limit without memory limit");
    }
    if memory < 0 {
        bail!("invalid memory value: {memory}");
    }
    if memory_swap < memory {
        bail!("memory+swap limit should be >= memory limit");
    }
    Ok(memory_swap - memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        assert_eq!(clean_path(""), "");
        assert_eq!(clean_path("/a/b/../c/"), "/a/c");
        assert_eq!(clean_path("a/../../b"), "b");
        assert_eq!(clean_path("../../etc"), "etc");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("x//y/./z"), "x/y/z");
        assert_eq!(clean_path(".."), ".");
        assert_eq!(inner_path(None, "abc"), "abc");
        assert_eq!(inner_path(Some(""), "abc"), "abc");
        assert_eq!(inner_path(Some("/m/n"), "abc"), "/m/n");
    }

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_to_v2(0, 100).unwrap(), 0);
        assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(swap_to_v2(100, 100).unwrap(), 0);
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn proc_cgroup() {
        let v = parse_proc_cgroup(
            "9:name=systemd:/\n4:memory:/process_api/x\n1:cpu,cpuacct:/a\n0::/user.slice/s\n",
        );
        assert_eq!(v.len(), 4);
        assert_eq!(v[1].controllers, "memory");
        assert_eq!(v[1].path, "/process_api/x");
        assert_eq!(v[2].controllers, "cpu,cpuacct");
        assert_eq!(v[3].id, 0);
        assert_eq!(v[3].controllers, "");
        assert_eq!(v[3].path, "/user.slice/s");
    }

    #[test]
    fn mountinfo() {
        let text = "\
25 30 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw shared:1 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,memory
32 25 0:29 / /proc rw - proc proc rw
";
        let m = parse_mountinfo_cgroups(text);
        assert_eq!(m.len(), 4);
        assert!(m[0].v2);
        assert_eq!(m[1].controllers, vec!["name=systemd"]);
        assert_eq!(m[2].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m[2].root, "/docker/abc");
        assert_eq!(m[3].mountpoint, PathBuf::from("/sys/fs/cgroup/my dir"));
    }

    #[test]
    fn rel_root() {
        assert_eq!(rel_to_root("/", "/a/b"), "/a/b");
        assert_eq!(rel_to_root("/docker/abc", "/docker/abc/x"), "/x");
        assert_eq!(rel_to_root("/docker/abc", "/docker/abc"), "");
        assert_eq!(rel_to_root("/docker/ab", "/docker/abc"), "/docker/abc");
        assert_eq!(
            join_cgroup(Path::new("/sys/fs/cgroup/memory"), "/a/b"),
            PathBuf::from("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            join_cgroup(Path::new("/sys/fs/cgroup/memory"), "/"),
            PathBuf::from("/sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn host_kind_detects_something() {
        // Every test host has some cgroup layout.
        let k = host_kind().unwrap();
        assert!(matches!(k, HostKind::V1 | HostKind::Hybrid | HostKind::V2));
    }
}
