//! runc's rootless cgroup rules. In rootless mode a cgroup the caller may not create is not an
//! error as long as nothing needs it: no `linux.cgroupsPath` was given and no resource limit
//! is asked for. Then the container simply runs in the caller's cgroup. A delegated (writable)
//! cgroup is used as usual. On v1 each hierarchy is decided on its own, as runc does: the
//! writable ones are used, the others skipped.
//!
//! Device rules cannot be set without privilege (v1 devices.allow needs CAP_SYS_ADMIN, v2 a
//! BPF program); like runc, rootless mode does not fail on them — the user namespace already
//! keeps the container from creating device nodes.

use super::{load_manager, CgroupState, HostKind, Manager, Stats};
use anyhow::{bail, Result};
use oci_spec::runtime::LinuxResources;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Whether an error is the kind rootless mode tolerates (runc's isIgnorableError).
fn is_permission_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
            .is_some_and(|n| matches!(n, libc::EACCES | libc::EPERM | libc::EROFS))
    })
}

/// The kinds of limit the spec asks for ("pids", "memory", ...); device rules do not count.
fn limit_names(res: Option<&LinuxResources>) -> Vec<String> {
    let Some(res) = res else { return Vec::new() };
    let v = serde_json::to_value(res).unwrap_or_default();
    v.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, x)| {
            *k != "devices"
                && !x.is_null()
                && !x.as_object().is_some_and(|m| m.is_empty())
                && !x.as_array().is_some_and(|a| a.is_empty())
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whether the spec asks for any limit (runc's needAnyControllers).
pub fn wants_limits(res: Option<&LinuxResources>) -> bool {
    !limit_names(res).is_empty()
}

/// Which cgroup a rootless container ended up with.
enum Used {
    /// All of it (delegated, or the systemd driver).
    Full,
    /// v1: the writable hierarchies only.
    Subset(Box<dyn Manager>),
    /// None: the container runs in the caller's cgroup.
    Nothing,
}

/// The container's cgroup in rootless mode: [`Manager::create`] decides, by runc's rules,
/// what of the resolved cgroup is used; everything after acts on that part only.
pub struct RootlessCgroup {
    full: Box<dyn Manager>,
    /// linux.cgroupsPath was given: then permission errors are errors.
    explicit_path: bool,
    /// The spec asks for limits: then a cgroup that cannot be created is an error.
    limits: bool,
    used: std::cell::OnceCell<Used>,
}

impl RootlessCgroup {
    pub fn new(full: Box<dyn Manager>, explicit_path: bool, limits: bool) -> RootlessCgroup {
        RootlessCgroup {
            full,
            explicit_path,
            limits,
            used: std::cell::OnceCell::new(),
        }
    }

    /// The part in use; before create (or without a cgroup) none.
    fn active(&self) -> Option<&dyn Manager> {
        match self.used.get()? {
            Used::Full => Some(self.full.as_ref()),
            Used::Subset(m) => Some(m.as_ref()),
            Used::Nothing => None,
        }
    }

    fn decide(&self) -> Result<Used> {
        let st = self.full.state();
        if st.systemd_unit.is_some() {
            // The systemd driver asks systemd, which knows what the caller may do.
            self.full.create()?;
            return Ok(Used::Full);
        }
        match st.kind {
            HostKind::V2 => match self.full.create() {
                Ok(()) => Ok(Used::Full),
                Err(e) if is_permission_error(&e) && !self.explicit_path && !self.limits => {
                    crate::logging::debug(&format!("rootless: running without a cgroup: {e:#}"));
                    Ok(Used::Nothing)
                }
                Err(e) if is_permission_error(&e) && !self.explicit_path => Err(e.context(
                    "rootless needs no limits + no cgrouppath when no permission is granted for cgroups",
                )),
                Err(e) => Err(e),
            },
            HostKind::V1 | HostKind::Hybrid => create_v1(&st, self.explicit_path),
        }
    }
}

/// Each v1 hierarchy (and the hybrid unified one) on its own: the writable ones are kept.
fn create_v1(st: &CgroupState, explicit_path: bool) -> Result<Used> {
    let mut kept: BTreeMap<String, PathBuf> = BTreeMap::new();
    let undo = |kept: &BTreeMap<String, PathBuf>| {
        let _ = subset(st, kept.clone()).and_then(|m| m.destroy());
    };
    for (key, path) in &st.paths {
        let one: BTreeMap<String, PathBuf> = [(key.clone(), path.clone())].into();
        match subset(st, one).and_then(|m| m.create()) {
            Ok(()) => {
                kept.insert(key.clone(), path.clone());
            }
            Err(e) if is_permission_error(&e) && !explicit_path => {
                crate::logging::debug(&format!("rootless: skipping cgroup {key}: {e:#}"));
            }
            Err(e) => {
                undo(&kept);
                return Err(e);
            }
        }
    }
    if kept.is_empty() {
        return Ok(Used::Nothing);
    }
    Ok(Used::Subset(subset(st, kept)?))
}

fn subset(st: &CgroupState, paths: BTreeMap<String, PathBuf>) -> Result<Box<dyn Manager>> {
    load_manager(&CgroupState {
        kind: st.kind,
        paths,
        systemd_unit: None,
        systemd_invocation: None,
        systemd_user: false,
    })
}

/// Applies the spec's resources; device rules are tried but their failure is not an error.
fn apply_tolerating_devices(mgr: &dyn Manager, res: &LinuxResources) -> Result<()> {
    let mut without_devices = res.clone();
    without_devices.set_devices(None);
    mgr.apply(&without_devices)?;
    let mut only_devices = LinuxResources::default();
    only_devices.set_devices(res.devices().clone());
    if let Err(e) = mgr.apply(&only_devices) {
        crate::logging::debug(&format!("rootless: device rules not applied: {e:#}"));
    }
    Ok(())
}

const NO_CGROUP: &str = "container has no cgroup (rootless, no permission)";

impl Manager for RootlessCgroup {
    fn create(&self) -> Result<()> {
        let used = self.decide()?;
        let _ = self.used.set(used);
        Ok(())
    }
    fn add_pid(&self, pid: i32) -> Result<()> {
        self.active().map_or(Ok(()), |m| m.add_pid(pid))
    }
    fn apply(&self, res: &LinuxResources) -> Result<()> {
        match self.active() {
            // The systemd driver keeps the resources until it starts the unit, so it gets
            // them in one piece and tolerates device rules itself.
            Some(m) if self.full.state().systemd_unit.is_some() => m.apply(res),
            Some(m) => apply_tolerating_devices(m, res),
            None => match limit_names(Some(res)).first() {
                // runc's words for a v1 limit without a cgroup.
                Some(what) => {
                    bail!("cannot set {what} limit: container could not join or create cgroup")
                }
                None => Ok(()),
            },
        }
    }
    fn freeze(&self) -> Result<()> {
        self.active()
            .map_or_else(|| bail!(NO_CGROUP), |m| m.freeze())
    }
    fn thaw(&self) -> Result<()> {
        self.active().map_or_else(|| bail!(NO_CGROUP), |m| m.thaw())
    }
    fn is_frozen(&self) -> Result<bool> {
        self.active().map_or(Ok(false), |m| m.is_frozen())
    }
    fn pids(&self) -> Result<Vec<i32>> {
        self.active().map_or_else(|| bail!(NO_CGROUP), |m| m.pids())
    }
    fn destroy(&self) -> Result<()> {
        // Before create decided there is nothing of ours (create undoes its own partial work).
        self.active().map_or(Ok(()), |m| m.destroy())
    }
    fn stats(&self) -> Result<Stats> {
        self.active()
            .map_or_else(|| bail!(NO_CGROUP), |m| m.stats())
    }
    fn exists(&self) -> bool {
        self.active().is_some_and(|m| m.exists())
    }
    /// Before create: the whole resolved cgroup (what `delete --force` may have to remove
    /// after a killed create); after: the part in use, with no paths when none is.
    fn state(&self) -> CgroupState {
        match self.used.get() {
            None | Some(Used::Full) => self.full.state(),
            Some(Used::Subset(m)) => m.state(),
            Some(Used::Nothing) => CgroupState {
                paths: BTreeMap::new(),
                ..self.full.state()
            },
        }
    }
    fn parent_places(&self) -> bool {
        self.full.parent_places()
    }
    fn set_annotations(
        &self,
        annotations: &std::collections::HashMap<String, String>,
    ) -> Result<()> {
        self.full.set_annotations(annotations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_detection() {
        assert!(!wants_limits(None));
        assert!(!wants_limits(Some(&LinuxResources::default())));
        let mut r = LinuxResources::default();
        r.set_devices(Some(vec![Default::default()]));
        assert!(!wants_limits(Some(&r)));
        let mut p = oci_spec::runtime::LinuxPids::default();
        p.set_limit(10);
        r.set_pids(Some(p));
        assert!(wants_limits(Some(&r)));
    }

    #[test]
    fn permission_errors() {
        let e = anyhow::Error::from(std::io::Error::from_raw_os_error(libc::EACCES))
            .context("creating cgroup");
        assert!(is_permission_error(&e));
        let e = anyhow::Error::from(std::io::Error::from_raw_os_error(libc::EINVAL));
        assert!(!is_permission_error(&e));
    }
}
