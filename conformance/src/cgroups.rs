//! The host's cgroup layout, where the runtime puts a container's cgroup, and finding and
//! removing leftover cgroup directories.

use crate::procfs::{own_mountinfo, parse_mountinfo_line, unescape_mountinfo};
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The v1 cgroup hierarchies mounted on this host (see PROJECT.md).
pub const CGROUP_V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
];

/// Layout of the host's cgroup filesystems.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupKind {
    /// Only v1 hierarchies under /sys/fs/cgroup/<controller>.
    V1,
    /// v1 hierarchies plus a cgroup2 mount at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup2 mounted at /sys/fs/cgroup.
    V2,
}

fn statfs_magic(path: &str) -> Option<i64> {
    let c = CString::new(path).ok()?;
    // SAFETY: zeroed statfs is a valid out buffer; c is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    Some(st.f_type as i64)
}

/// The host's cgroup layout (statfs of /sys/fs/cgroup: cgroup2 = v2; tmpfs with a cgroup2
/// mount at /sys/fs/cgroup/unified = hybrid; anything else = v1). Computed once.
pub fn cgroup_kind() -> CgroupKind {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    static KIND: OnceLock<CgroupKind> = OnceLock::new();
    *KIND.get_or_init(|| {
        if statfs_magic("/sys/fs/cgroup") == Some(CGROUP2_SUPER_MAGIC) {
            CgroupKind::V2
        } else if statfs_magic("/sys/fs/cgroup/unified") == Some(CGROUP2_SUPER_MAGIC) {
            CgroupKind::Hybrid
        } else {
            CgroupKind::V1
        }
    })
}

/// Mount points of the cgroup filesystems at or under /sys/fs/cgroup (v1 hierarchies, the
/// hybrid unified mount, or the single v2 mount), from /proc/self/mountinfo.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let s = own_mountinfo();
    let mut v = Vec::new();
    for m in s.lines().filter_map(parse_mountinfo_line) {
        if !matches!(m.fstype, "cgroup" | "cgroup2") {
            continue;
        }
        let mp = unescape_mountinfo(m.mount_point);
        if mp == "/sys/fs/cgroup" || mp.starts_with("/sys/fs/cgroup/") {
            let p = PathBuf::from(mp);
            if !v.contains(&p) {
                v.push(p);
            }
        }
    }
    v
}

/// Directories of cgroup `path` (e.g. "/hull-conf/<id>") that exist in any
/// cgroup hierarchy (every v1 hierarchy and the hybrid unified mount, or the v2 mount).
pub fn cgroup_leftovers(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    let mut v = Vec::new();
    if rel.is_empty() {
        return v;
    }
    let mut mounts = cgroup_mounts();
    if mounts.is_empty() {
        mounts = match cgroup_kind() {
            CgroupKind::V2 => vec![PathBuf::from("/sys/fs/cgroup")],
            _ => CGROUP_V1_CONTROLLERS
                .iter()
                .chain(["unified"].iter())
                .map(|c| Path::new("/sys/fs/cgroup").join(c))
                .collect(),
        };
    }
    for m in mounts {
        let p = m.join(rel);
        if p.exists() {
            v.push(p);
        }
    }
    v
}

/// Assert no cgroup directory for `path` is left in any hierarchy.
#[track_caller]
pub fn assert_no_cgroup(path: &str) {
    let left = cgroup_leftovers(path);
    assert!(left.is_empty(), "cgroup directories left behind: {left:?}");
}

/// Best-effort removal of cgroup `path` in every hierarchy: SIGKILLs any
/// process still in it (or in a child cgroup), then rmdirs deepest first.
/// Only use it on paths the tests own (e.g. [`test_cgroups_path`]).
pub fn remove_cgroup(path: &str) {
    remove_cgroup_dirs(&cgroup_leftovers(path));
}

/// Like [`remove_cgroup`] for cgroup directories given by their full paths.
pub fn remove_cgroup_dirs(tops: &[PathBuf]) {
    if tops.is_empty() {
        return;
    }
    let mut dirs = Vec::new();
    for t in tops {
        if t.exists() {
            collect_dirs(t, &mut dirs);
        }
    }
    dirs.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    let procs = |dirs: &[PathBuf]| -> Vec<i32> {
        let mut v = Vec::new();
        for d in dirs {
            if let Ok(s) = fs::read_to_string(d.join("cgroup.procs")) {
                v.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        v
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ps = procs(&dirs);
        if ps.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in ps {
            // SAFETY: plain kill(2).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        // a frozen cgroup would keep the killed processes around
        for d in &dirs {
            if d.starts_with("/sys/fs/cgroup/freezer") {
                let _ = fs::write(d.join("freezer.state"), "THAWED");
            }
            // cgroup2 (v2 or the hybrid unified mount)
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for d in &dirs {
        for _ in 0..50 {
            if fs::remove_dir(d).is_ok() || !d.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

/// The cgroups path the tests configure for a container id.
pub fn test_cgroups_path(id: &str) -> String {
    format!("/hull-conf/{id}")
}

/// Cgroup directories left for `id` at the default location (no `linux.cgroupsPath`): like
/// runc's cgroupfs driver, hull uses `<caller's cgroup>/<id>` in every v1 hierarchy (and the
/// hybrid unified mount), and `<parent of the caller's cgroup>/<id>` on a v2 host; crun uses
/// `/<id>` (see [`default_cgroup_dirs`]); the caller is this test process.
pub fn default_cgroup_leftovers(id: &str) -> Vec<PathBuf> {
    default_cgroup_dirs(id)
        .into_iter()
        .filter(|p| p.exists())
        .collect()
}

/// Where the runtime puts the cgroup of a container with the relative cgroups path `rel`
/// (the container id when there is no `linux.cgroupsPath`) when this test process calls it:
/// v1/hybrid: `/sys/fs/cgroup/<hierarchy>/<own cgroup there>/<rel>` for every hierarchy in
/// /proc/self/cgroup ("unified" for the hybrid cgroup2 line); v2: the parent of the own
/// cgroup, as runc's fs2 driver does (the own cgroup usually has processes, so controllers
/// cannot be enabled below it). crun's cgroupfs driver takes a relative path (and `<id>`
/// without one) from the root of every hierarchy instead, which the runtime-spec allows ("a
/// runtime-determined location"; crun's behaviour: containers/crun#2056).
pub fn default_cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let kind = cgroup_kind();
    let mut v = Vec::new();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, mut path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or("/"));
        if crate::binary::is_crun() {
            path = "/";
            if kind == CgroupKind::V2 {
                if ctrls.is_empty() {
                    v.push(Path::new("/sys/fs/cgroup").join(rel));
                }
                continue;
            }
        }
        let p = match (kind, ctrls) {
            (CgroupKind::V2, "") => {
                let parent = Path::new(path).parent().unwrap_or(Path::new("/"));
                Path::new("/sys/fs/cgroup")
                    .join(parent.strip_prefix("/").unwrap_or(parent))
                    .join(rel)
            }
            (CgroupKind::V2, _) | (CgroupKind::V1, "") => continue,
            (_, c) => {
                let mount = match c {
                    "" => "unified",
                    c => c.strip_prefix("name=").unwrap_or(c),
                };
                Path::new("/sys/fs/cgroup")
                    .join(mount)
                    .join(path.trim_start_matches('/'))
                    .join(rel)
            }
        };
        v.push(p);
    }
    v
}
