//! Semantic checks of a parsed spec, done before anything is created.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Oldest and newest runtime-spec versions hull implements (also reported by `features`).
pub const OCI_VERSION_MIN: &str = "1.0.0";
pub const OCI_VERSION_MAX: &str = "1.3.0";
/// Version written into `state` output and `spec`.
pub const OCI_VERSION: &str = "1.3.0";

/// Checks `ociVersion`: any 1.x (pre-release suffixes such as runc's "1.0.2-dev" are
/// accepted). The spec says a runtime ignores properties it does not know, so a config of a
/// newer minor than we implement runs (with a debug note); another major is refused.
pub fn check_version(v: &str) -> Result<()> {
    if v.is_empty() {
        bail!("ociVersion is missing from config");
    }
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
    let Some(nums) = nums.filter(|n| n.len() == 3) else {
        bail!("ociVersion {v:?} is not a semantic version");
    };
    if nums[0] != 1 {
        bail!("unsupported ociVersion {v:?}: hull supports runtime-spec 1.x ({OCI_VERSION_MIN} to {OCI_VERSION_MAX})");
    }
    if nums[1] > max_minor() {
        crate::logging::debug(&format!(
            "ociVersion {v} is newer than {OCI_VERSION_MAX}: properties hull does not know are ignored"
        ));
    }
    Ok(())
}

fn max_minor() -> u64 {
    OCI_VERSION_MAX
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Validates everything `create` relies on and returns the absolute rootfs path.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    check_version(spec.version())?;
    let root = spec
        .root()
        .as_ref()
        .context("config has no root: root.path is required")?;
    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let meta =
        std::fs::metadata(&rootfs).with_context(|| format!("rootfs {}", rootfs.display()))?;
    if !meta.is_dir() {
        bail!("rootfs {} is not a directory", rootfs.display());
    }
    let rootfs =
        std::fs::canonicalize(&rootfs).with_context(|| format!("rootfs {}", rootfs.display()))?;
    let process = spec.process().as_ref().context("config has no process")?;
    check_process(process)?;
    crate::setup::lsm::check_config(spec)?;
    check_linux(spec)?;
    for m in spec.mounts().iter().flatten() {
        if m.destination().as_os_str().is_empty() {
            bail!("mount with an empty destination");
        }
    }
    Ok(rootfs)
}

/// Checks fields of a process (also used for `exec --process`).
pub fn check_process(p: &oci_spec::runtime::Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) && p.command_line().is_none() {
        bail!("process.args must not be empty");
    }
    if !p.cwd().is_absolute() {
        bail!("process.cwd {:?} must be an absolute path", p.cwd());
    }
    for e in p.env().iter().flatten() {
        if !e.contains('=') {
            bail!("process.env entry {e:?} is not of the form KEY=value");
        }
    }
    if let Some(s) = p.scheduler() {
        crate::setup::sched::check(s)?;
    }
    if let Some(io) = p.io_priority() {
        crate::setup::ioprio::check(io)?;
    }
    if let Some(a) = p.exec_cpu_affinity() {
        crate::setup::affinity::check(a)?;
    }
    Ok(())
}

fn check_linux(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let mut seen = HashSet::new();
    for ns in linux.namespaces().iter().flatten() {
        if !seen.insert(ns.typ()) {
            bail!("namespace {} is listed more than once", ns.typ());
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                bail!("namespace {} path {:?} must be absolute", ns.typ(), p);
            }
        }
    }
    let new_ns = |t: LinuxNamespaceType| seen.contains(&t);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if has_maps && !new_ns(LinuxNamespaceType::User) {
        bail!("uidMappings/gidMappings are set but there is no user namespace");
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty()) && !new_ns(LinuxNamespaceType::Uts) {
        bail!("hostname is set but there is no UTS namespace: it would change the host's hostname");
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty()) && !new_ns(LinuxNamespaceType::Uts)
    {
        bail!("domainname is set but there is no UTS namespace: it would change the host's domainname");
    }
    // Masks and read-only paths could be undone in a mount namespace shared with the host:
    // refused with runc's words.
    let restricts = linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
        || linux
            .readonly_paths()
            .as_ref()
            .is_some_and(|p| !p.is_empty());
    if restricts && !new_ns(LinuxNamespaceType::Mount) {
        bail!("unable to restrict sys entries without a private MNT namespace");
    }
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        check_sysctl(key, &new_ns)?;
    }
    check_uts_sysctls(spec)?;
    if linux.time_offsets().is_some() && !new_ns(LinuxNamespaceType::Time) {
        bail!("timeOffsets are set but there is no time namespace");
    }
    if let Some(p) = linux.personality() {
        crate::setup::personality::check(p)?;
    }
    if let Some(m) = linux.memory_policy() {
        crate::setup::mempolicy::check(m)?;
    }
    crate::setup::netdev::check(linux)?;
    if let Some(r) = linux.intel_rdt() {
        crate::setup::rdt::check(r)?;
    }
    Ok(())
}

/// kernel.hostname / kernel.domainname with a value other than the spec's hostname /
/// domainname: which one would win depends on the order of the setup steps, so refuse it
/// (crun does; runc refuses kernel.hostname whenever there is a UTS namespace, in these words).
fn check_uts_sysctls(spec: &Spec) -> Result<()> {
    let sysctl = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref());
    for (key, field, value) in [
        ("kernel.hostname", "hostname", spec.hostname()),
        ("kernel.domainname", "domainname", spec.domainname()),
    ] {
        let (Some(want), Some(set)) = (
            value.as_deref().filter(|v| !v.is_empty()),
            sysctl.and_then(|s| s.get(key)),
        ) else {
            continue;
        };
        if set != want {
            bail!("sysctl {key:?} is not allowed as it conflicts with the OCI {field:?} field");
        }
    }
    Ok(())
}

/// Refuses sysctls that would change the host: only namespaced keys, and only when the
/// container has its own namespace of that kind (as runc does).
fn check_sysctl(key: &str, new_ns: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    const IPC_KEYS: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if key.contains("..") || key.starts_with('/') {
        bail!("sysctl {key:?} is not a valid name");
    }
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        if !new_ns(LinuxNamespaceType::Ipc) {
            bail!(
                "sysctl {key:?} is not allowed: the container does not have its own IPC namespace"
            );
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !new_ns(LinuxNamespaceType::Network) {
            bail!("sysctl {key:?} is not allowed: the container does not have its own network namespace");
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if !new_ns(LinuxNamespaceType::Uts) {
            bail!(
                "sysctl {key:?} is not allowed: the container does not have its own UTS namespace"
            );
        }
        return Ok(());
    }
    bail!("sysctl {key:?} is not in a separate kernel namespace and would change the host")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in [
            "1.0.0",
            "1.0.2-dev",
            "1.1.0",
            "1.2.0",
            "1.2.1",
            "1.3.0",
            "1.9.0",
        ] {
            check_version(ok).unwrap();
        }
        for bad in ["", "0.1.0", "2.0.0", "3.1.0", "abc", "1.0"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
