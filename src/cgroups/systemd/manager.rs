//! The driver: the container's cgroup as a transient systemd unit, with the cgroupfs manager
//! (v2 or v1/hybrid) working on the unit's directory for everything systemd does not do.

use super::annotations::annotation_properties;
use super::bus::Systemd;
use super::is_running;
use super::naming::{plan, UnitPlan};
use super::properties::{prop, resource_properties};
use super::user::{check_delegated, under_manager};
use crate::cgroups::dbus::Value;
use crate::cgroups::{v1, v2, CgroupState, HostKind, Manager, Stats, CGROUP_ROOT};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

/// Who has a unit's name at the moment (see [`SystemdManager::owner`]).
#[derive(PartialEq)]
enum UnitOwner {
    /// The invocation this container started.
    Us,
    /// No unit of that name is loaded (systemd collected ours).
    Nobody,
    /// Another invocation, maybe another container's.
    Other,
}

/// The container's cgroup managed by systemd: a transient scope (or slice) unit, plus the
/// cgroupfs manager for its directory.
pub struct SystemdManager {
    plan: UnitPlan,
    kind: HostKind,
    inner: Box<dyn Manager>,
    description: String,
    /// Resources given before the unit exists (applied when it is started).
    pending: RefCell<Option<LinuxResources>>,
    /// Properties from "org.systemd.property.*" annotations (added last, so they win).
    extra: RefCell<Vec<Value>>,
    /// Whether this process started the unit (or loaded it from state).
    started: Cell<bool>,
    /// The InvocationID of the unit this container started (see CgroupState).
    invocation: RefCell<Option<String>>,
    /// The unit lives in the user's systemd instance (rootless), reached over the user's bus.
    user: bool,
    /// With `user`, for a new container: the user manager's cgroup directory (whose
    /// cgroup.controllers are the controllers delegated to it).
    manager_dir: Option<PathBuf>,
}

fn inner_manager(kind: HostKind, cgroup: &str) -> Result<Box<dyn Manager>> {
    Ok(match kind {
        HostKind::V2 => Box::new(v2::V2Manager::new(crate::cgroups::join_cgroup(
            Path::new(CGROUP_ROOT),
            cgroup,
        ))),
        k => Box::new(v1::V1Manager::resolve(cgroup, k)?),
    })
}

impl SystemdManager {
    /// A manager for a new container (the unit is started by [`Manager::add_pid`]). With
    /// `user` the unit goes to the user's systemd instance (rootless), below its cgroup.
    pub fn new(
        cgroups_path: Option<&str>,
        id: &str,
        kind: HostKind,
        user: bool,
    ) -> Result<SystemdManager> {
        let mut plan = plan(cgroups_path, id, user)?;
        if user && kind != HostKind::V2 {
            // runc's words: systemd can only delegate cgroup v2 controllers to a user.
            bail!(
                "cannot use rootless systemd cgroups manager on cgroup v1 (this host's cgroup \
                 controllers are v1: none can be delegated to the user's systemd instance)"
            );
        }
        let mut manager_dir = None;
        if user {
            // e.g. "/user.slice/user-1000.slice/user@1000.service"
            let manager_cg = Systemd::connect_user()?.manager_string("ControlGroup")?;
            plan.cgroup = under_manager(&manager_cg, &plan.cgroup)?;
            manager_dir = Some(crate::cgroups::join_cgroup(
                Path::new(CGROUP_ROOT),
                &manager_cg,
            ));
        }
        let inner = inner_manager(kind, &plan.cgroup)?;
        Ok(SystemdManager {
            plan,
            kind,
            inner,
            description: format!("hull container {id}"),
            pending: RefCell::new(None),
            extra: RefCell::new(Vec::new()),
            started: Cell::new(false),
            invocation: RefCell::new(None),
            user,
            manager_dir,
        })
    }

    /// Rebuilds the manager of an existing container from its state.
    pub fn from_state(state: &CgroupState, unit: &str) -> Result<SystemdManager> {
        let plain = CgroupState {
            systemd_unit: None,
            systemd_invocation: None,
            systemd_user: false,
            ..state.clone()
        };
        let inner = crate::cgroups::load_manager(&plain)?;
        Ok(SystemdManager {
            plan: UnitPlan {
                unit: unit.to_string(),
                slice: if unit.ends_with(".slice") {
                    None
                } else {
                    Some(String::new())
                },
                cgroup: String::new(),
            },
            kind: state.kind,
            inner,
            description: String::new(),
            pending: RefCell::new(None),
            extra: RefCell::new(Vec::new()),
            started: Cell::new(true),
            invocation: RefCell::new(state.systemd_invocation.clone()),
            user: state.systemd_user,
            manager_dir: None,
        })
    }

    pub fn unit(&self) -> &str {
        &self.plan.unit
    }

    fn start_properties(&self, pid: i32, version: u32) -> Result<Vec<Value>> {
        let v2 = self.kind == HostKind::V2;
        let mut p = vec![
            prop("Description", Value::str(self.description.clone())),
            prop("DefaultDependencies", Value::Bool(false)),
            prop("MemoryAccounting", Value::Bool(true)),
            prop("CPUAccounting", Value::Bool(true)),
            prop(
                if v2 {
                    "IOAccounting"
                } else {
                    "BlockIOAccounting"
                },
                Value::Bool(true),
            ),
            prop("TasksAccounting", Value::Bool(true)),
        ];
        if let Some(slice) = &self.plan.slice {
            p.push(prop("Slice", Value::str(slice.clone())));
            p.push(prop("Delegate", Value::Bool(true)));
            p.push(prop(
                "PIDs",
                Value::Array("u".into(), vec![Value::U32(pid as u32)]),
            ));
        }
        if let Some(res) = self.pending.borrow().as_ref() {
            p.extend(resource_properties(res, self.kind, version)?);
        }
        p.extend(self.extra.borrow().iter().cloned());
        Ok(p)
    }

    /// Checks that systemd put `pid` where we expect the unit's cgroup to be.
    fn check_placement(&self, pid: i32) -> Result<()> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .with_context(|| format!("reading /proc/{pid}/cgroup"))?;
        let lines = crate::cgroups::parse_proc_cgroup(&text);
        let actual = match self.kind {
            HostKind::V2 => lines.iter().find(|l| l.id == 0),
            _ => lines.iter().find(|l| l.controllers == "name=systemd"),
        };
        if let Some(l) = actual {
            if l.path != self.plan.cgroup {
                bail!(
                    "systemd placed the container init in cgroup {:?}, expected {:?}",
                    l.path,
                    self.plan.cgroup
                );
            }
        }
        Ok(())
    }

    fn start(&self, pid: i32) -> Result<()> {
        if let (Some(dir), Some(res)) = (&self.manager_dir, self.pending.borrow().as_ref()) {
            // Before the unit exists, so that a refused limit leaves nothing behind.
            check_delegated(dir, res)?;
        }
        let mut sd = Systemd::connect_to(self.user)?;
        let version = sd.version().unwrap_or(0);
        let props = self.start_properties(pid, version)?;
        sd.start_transient_unit(&self.plan.unit, props)?;
        self.started.set(true);
        *self.invocation.borrow_mut() = sd.invocation_id(&self.plan.unit).ok().flatten();
        if !self.plan.is_slice() {
            self.check_placement(pid)?;
        }
        // Directories systemd does not manage (v1 hierarchies such as cpuset or net_cls), then
        // the pid into every hierarchy (a no-op where systemd already put it).
        self.inner.create()?;
        self.inner.add_pid(pid)?;
        if let Some(res) = self.pending.borrow_mut().take() {
            self.apply_cgroupfs(&res)?;
        }
        Ok(())
    }

    /// The cgroupfs part of applying `res`. For the user's instance (rootless) device rules
    /// are tried but their failure is not an error: a BPF program needs privilege, and the
    /// user namespace already keeps the container from creating device nodes (runc does
    /// the same).
    fn apply_cgroupfs(&self, res: &LinuxResources) -> Result<()> {
        if !self.user {
            return self.inner.apply(res);
        }
        let mut without_devices = res.clone();
        without_devices.set_devices(None);
        self.inner.apply(&without_devices)?;
        let mut only_devices = LinuxResources::default();
        only_devices.set_devices(res.devices().clone());
        if let Err(e) = self.inner.apply(&only_devices) {
            crate::logging::debug(&format!("rootless: device rules not applied: {e:#}"));
        }
        Ok(())
    }
}

impl SystemdManager {
    /// Who has the unit's name now.
    fn owner(&self) -> Result<UnitOwner> {
        let now = Systemd::connect_to(self.user)?.invocation_id(&self.plan.unit)?;
        let ours = self.invocation.borrow().clone();
        Ok(match (now, ours) {
            (None, _) => UnitOwner::Nobody,
            (Some(now), Some(ours)) if now == ours => UnitOwner::Us,
            // loaded, but another invocation, or we never learnt ours (create was killed)
            _ => UnitOwner::Other,
        })
    }

    /// The CFS quota and period in force now, read from cgroupfs (-1 = no quota).
    fn current_cfs(&self) -> Option<(i64, u64)> {
        let st = self.inner.state();
        if self.kind == HostKind::V2 {
            let dir = st.paths.get("")?;
            let v = std::fs::read_to_string(dir.join("cpu.max")).ok()?;
            let mut f = v.split_whitespace();
            let quota = match f.next()? {
                "max" => -1,
                q => q.parse().ok()?,
            };
            return Some((quota, f.next()?.parse().ok()?));
        }
        let dir = st
            .paths
            .iter()
            .find(|(k, _)| k.split(',').any(|c| c == "cpu"))
            .map(|(_, d)| d)?;
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        Some((
            read("cpu.cfs_quota_us")?.trim().parse().ok()?,
            read("cpu.cfs_period_us")?.trim().parse().ok()?,
        ))
    }

    /// `res` with a missing quota or period (when the other is given) filled in from cgroupfs.
    fn with_current_cfs(&self, res: &LinuxResources) -> LinuxResources {
        let mut out = res.clone();
        let Some(c) = res.cpu() else {
            return out;
        };
        if c.quota().is_some() == c.period().is_some() {
            return out;
        }
        if let Some((quota, period)) = self.current_cfs() {
            let mut c = c.clone();
            if c.quota().is_none() {
                c.set_quota(Some(quota));
            }
            if c.period().is_none() {
                c.set_period(Some(period));
            }
            out.set_cpu(Some(c));
        }
        out
    }
}

impl Manager for SystemdManager {
    fn create(&self) -> Result<()> {
        // The unit needs the init's pid: it is started by add_pid.
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<()> {
        if self.started.get() {
            return self.inner.add_pid(pid);
        }
        self.start(pid)
    }

    fn apply(&self, res: &LinuxResources) -> Result<()> {
        if !self.started.get() {
            *self.pending.borrow_mut() = Some(res.clone());
            return Ok(());
        }
        // systemd takes quota and period as one rate: an update naming only one of them must
        // be completed with the current other, or the rate would be computed from a default.
        let res = &self.with_current_cfs(res);
        let mut sd = Systemd::connect_to(self.user)?;
        let version = sd.version().unwrap_or(0);
        let props = resource_properties(res, self.kind, version)?;
        sd.set_unit_properties(&self.plan.unit, props)?;
        self.apply_cgroupfs(res)
    }

    fn freeze(&self) -> Result<()> {
        self.inner.freeze()
    }

    fn thaw(&self) -> Result<()> {
        self.inner.thaw()
    }

    fn is_frozen(&self) -> Result<bool> {
        self.inner.is_frozen()
    }

    fn pids(&self) -> Result<Vec<i32>> {
        self.inner.pids()
    }

    fn destroy(&self) -> Result<()> {
        if !self.started.get() {
            // The unit was never started by us (e.g. StartTransientUnit failed because a unit of
            // that name exists): its cgroup, if any, belongs to someone else.
            return Ok(());
        }
        match if is_running() {
            self.owner()?
        } else {
            UnitOwner::Nobody
        } {
            UnitOwner::Us => {}
            // systemd collected our emptied scope: only cgroupfs leftovers systemd does not
            // manage (v1 hierarchies such as cpuset or freezer) remain, and they are ours.
            UnitOwner::Nobody => return self.inner.destroy(),
            UnitOwner::Other => {
                // The name (and so the cgroup path) is another invocation's, maybe another
                // container's, or we never learnt ours (create was killed): leave it alone.
                crate::logging::debug(&format!(
                    "systemd unit {} is not this container's (any more): not stopping it",
                    self.plan.unit
                ));
                return Ok(());
            }
        }
        // Processes still there (no pid namespace) are killed through cgroupfs first: stopping
        // the unit would SIGTERM them and wait for systemd's stop timeout.
        if self.inner.exists() && !self.inner.pids().unwrap_or_default().is_empty() {
            self.inner.destroy()?;
        }
        if is_running() {
            Systemd::stop_unit_retrying(&self.plan.unit, self.user)?;
        }
        self.inner.destroy()
    }

    fn stats(&self) -> Result<Stats> {
        self.inner.stats()
    }

    fn parent_places(&self) -> bool {
        true
    }

    fn set_annotations(
        &self,
        annotations: &std::collections::HashMap<String, String>,
    ) -> Result<()> {
        *self.extra.borrow_mut() = annotation_properties(annotations)?;
        Ok(())
    }

    fn exists(&self) -> bool {
        self.inner.exists()
    }

    fn state(&self) -> CgroupState {
        CgroupState {
            systemd_unit: Some(self.plan.unit.clone()),
            systemd_invocation: self.invocation.borrow().clone(),
            systemd_user: self.user,
            ..self.inner.state()
        }
    }
}
