//! Where the container's directory is in each mounted v1 hierarchy (and the hybrid unified
//! tree), and creating those directories.

use super::{Hierarchy, V1Manager};
use crate::cgroups::util;
use crate::cgroups::{
    fs_magic, join_cgroup, rel_to_root, CgroupMount, CgroupState, HostKind, CGROUP_ROOT,
    CGROUP_SUPER_MAGIC, UNIFIED_HYBRID,
};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where a v1 hierarchy is normally mounted: /sys/fs/cgroup/<controllers> (named hierarchies:
/// /sys/fs/cgroup/<name>).
pub(super) fn guess_mount(key: &str) -> PathBuf {
    let dir = key.strip_prefix("name=").unwrap_or(key);
    Path::new(CGROUP_ROOT).join(dir)
}

pub(super) fn same_controllers(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

impl V1Manager {
    /// Resolve `inner` (absolute or relative to the caller's cgroups) in every mounted v1
    /// hierarchy. /proc/self/mountinfo is read only when a hierarchy is not at its usual
    /// place or is mounted from a sub-cgroup.
    pub fn resolve(inner: &str, kind: HostKind) -> Result<V1Manager> {
        let own = crate::cgroups::own_cgroups()?;
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
                    mounts = Some(crate::cgroups::cgroup_mounts()?);
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

    pub(super) fn need(&self, ctrl: &str, what: &str) -> Result<&Path> {
        self.path(ctrl).with_context(|| {
            format!("cannot set {what}: the {ctrl} cgroup controller is not mounted")
        })
    }

    /// The unified directory if it has controller `ctrl` available (hybrid hosts).
    pub(super) fn unified_with(&self, ctrl: &str) -> Option<&Path> {
        let u = self.unified.as_deref()?;
        let avail = util::read_opt(u, "cgroup.controllers").ok().flatten()?;
        avail.split_whitespace().any(|c| c == ctrl).then_some(u)
    }

    pub(super) fn all_dirs(&self) -> impl Iterator<Item = &Path> {
        self.hier
            .iter()
            .map(|h| h.path.as_path())
            .chain(self.unified.as_deref())
    }

    pub(super) fn v1_pids(&self) -> Result<Vec<i32>> {
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

    pub(super) fn freezer_dir(&self) -> Option<&Path> {
        self.path("freezer")
    }
}

/// Create a cpuset cgroup: every new level gets cpuset.cpus/mems copied from its parent (a v1
/// cpuset cgroup starts empty and refuses tasks until both are set).
pub(super) fn create_cpuset(mount: &Path, path: &Path) -> Result<()> {
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

pub(super) fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("failed to create cgroup {}", path.display()))
}
