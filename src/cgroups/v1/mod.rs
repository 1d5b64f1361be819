//! cgroup v1 manager (also used on hybrid hosts, where the container additionally gets a
//! directory in the cgroup2 tree at /sys/fs/cgroup/unified; controllers that live only there,
//! such as hugetlb on our test host, are driven through it).

mod freezer;
mod paths;
mod resources;
mod stats;

use super::util;
use super::{devices, v2, CgroupState, HostKind, Manager, Stats, UNIFIED_HYBRID};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxResources;
use paths::{create_cpuset, create_dir};
use resources::{
    blkio_wanted, cpu_wanted, cpuset_wanted, memory_wanted, set_blkio, set_cpu, set_hugetlb_v1,
    set_memory,
};
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
        // Like runc and crun, `unified` needs a pure cgroup v2 host: on a hybrid one only a
        // few controllers live in the cgroup2 mount, so the same keys would mean different
        // things depending on the host. Refused before anything is written.
        if res.unified().as_ref().is_some_and(|m| !m.is_empty()) {
            bail!("invalid configuration: cannot use unified on cgroup v1");
        }
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
        if res.pids().is_some() {
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
        // Usually the init is gone and nothing is left: plain rmdirs are enough. The freezer
        // directory goes last, so that if anything is left the full path below still has it
        // to freeze the processes while it kills them.
        let freezer = self.freezer_dir();
        let others = self.all_dirs().filter(|d| Some(*d) != freezer);
        if util::rmdir_if_empty(others.chain(freezer)) {
            return Ok(());
        }
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
            systemd_user: false,
        }
    }
}

#[cfg(test)]
mod tests;
