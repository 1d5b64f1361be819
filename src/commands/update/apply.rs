//! Applying an update: the changes merged over the resources stored with the container, and
//! the result stored back for the next update.

use super::changes::Changes;
use crate::state::CONFIG_FILE;
use anyhow::{Context, Result};
use oci_spec::runtime::{
    LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxPids, LinuxResources, Spec,
};
use std::path::Path;

/// Merges `c` over the stored resources. Returns (what to store, what to apply). Like runc,
/// only what this update names is written to the cgroup: re-writing stored values could
/// undo or conflict with the new ones (e.g. a stored swap limit checked against a new memory
/// limit, or checkBeforeUpdate failing a cpu-only update). The applied set never has device
/// rules: those an update adds are kept in the container's state (see `run`), and other
/// updates never reset the device cgroup.
pub fn merge(stored: &LinuxResources, c: &Changes) -> Result<(LinuxResources, LinuxResources)> {
    let mut store = stored.clone();
    overlay(&mut store, c);
    if let Some(u) = &c.unified {
        let mut all = store.unified().clone().unwrap_or_default();
        all.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
        store.set_unified(Some(all));
    }
    let mut apply = LinuxResources::default();
    overlay(&mut apply, c);
    apply.set_unified(c.unified.clone().filter(|u| !u.is_empty()));
    Ok((store, apply))
}

/// Sets every field `c` names on `r`, leaving the others as they are.
fn overlay(r: &mut LinuxResources, c: &Changes) {
    if let Some(w) = c.blkio_weight {
        let mut b = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }

    let cpu_changed = c.cpu_period.is_some()
        || c.cpu_quota.is_some()
        || c.cpu_burst.is_some()
        || c.cpu_shares.is_some()
        || c.cpu_rt_period.is_some()
        || c.cpu_rt_runtime.is_some()
        || c.cpu_idle.is_some()
        || !c.cpuset_cpus.is_empty()
        || !c.cpuset_mems.is_empty();
    if cpu_changed {
        let mut cpu: LinuxCpu = r.cpu().clone().unwrap_or_default();
        if let Some(v) = c.cpu_period {
            cpu.set_period(Some(v));
        }
        if let Some(v) = c.cpu_quota {
            cpu.set_quota(Some(v));
        }
        if let Some(v) = c.cpu_burst {
            cpu.set_burst(Some(v));
        }
        if let Some(v) = c.cpu_shares {
            cpu.set_shares(Some(v));
        }
        if let Some(v) = c.cpu_rt_period {
            cpu.set_realtime_period(Some(v));
        }
        if let Some(v) = c.cpu_rt_runtime {
            cpu.set_realtime_runtime(Some(v));
        }
        if let Some(v) = c.cpu_idle {
            cpu.set_idle(Some(v));
        }
        if !c.cpuset_cpus.is_empty() {
            cpu.set_cpus(Some(c.cpuset_cpus.clone()));
        }
        if !c.cpuset_mems.is_empty() {
            cpu.set_mems(Some(c.cpuset_mems.clone()));
        }
        r.set_cpu(Some(cpu));
    }

    let mut swap = c.memory_swap;
    // Memory set to unlimited without an explicit swap value means both unlimited (runc).
    if c.memory == Some(-1) && swap.is_none() {
        swap = Some(-1);
    }
    if c.memory.is_some()
        || swap.is_some()
        || c.memory_reservation.is_some()
        || c.check_before_update.is_some()
    {
        let mut m: LinuxMemory = r.memory().unwrap_or_default();
        if let Some(v) = c.memory {
            m.set_limit(Some(v));
        }
        if let Some(v) = swap {
            m.set_swap(Some(v));
        }
        if let Some(v) = c.memory_reservation {
            m.set_reservation(Some(v));
        }
        if let Some(v) = c.check_before_update {
            m.set_check_before_update(Some(v));
        }
        r.set_memory(Some(m));
    }

    if c.pids_limit != 0 {
        let mut p = LinuxPids::default();
        p.set_limit(c.pids_limit);
        r.set_pids(Some(p));
    }
}

/// The whole device rule list: what create wrote for the saved config (whose last rules are
/// the runtime's default allow list, as in runc) followed by the rules updates added, so that
/// an update's deny is not overridden by a default allow. The device cgroup is always
/// rewritten from all of it.
pub(super) fn device_rules(
    config: &serde_json::Value,
    added: &[LinuxDeviceCgroup],
) -> Result<Vec<LinuxDeviceCgroup>> {
    let spec: Spec =
        serde_json::from_value(config.clone()).context("parsing the container's saved config")?;
    let mut rules = crate::commands::container::device_rules(&spec);
    rules.extend(added.iter().cloned());
    Ok(rules)
}

/// The device rules earlier updates added, kept beside the saved config (they are not part of
/// the config: they must come after the runtime's defaults).
const ADDED_DEVICES_FILE: &str = "update-devices.json";

pub(super) fn added_device_rules(dir: &Path) -> Result<Vec<LinuxDeviceCgroup>> {
    match std::fs::read(dir.join(ADDED_DEVICES_FILE)) {
        Ok(raw) => serde_json::from_slice(&raw).context("corrupt saved device rules"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).context("reading the saved device rules"),
    }
}

pub(super) fn save_added_device_rules(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let data = serde_json::to_vec(rules)?;
    crate::util::fs::write_atomic(&dir.join(ADDED_DEVICES_FILE), &data, 0o600)
}

pub(super) fn stored_config(dir: &Path) -> Result<serde_json::Value> {
    let path = dir.join(CONFIG_FILE);
    let raw = std::fs::read(&path).context("reading the container's saved config")?;
    serde_json::from_slice(&raw).with_context(|| format!("corrupt saved config {}", path.display()))
}

pub(super) fn stored_resources(config: &serde_json::Value) -> Result<LinuxResources> {
    match config.pointer("/linux/resources") {
        None | Some(serde_json::Value::Null) => Ok(LinuxResources::default()),
        Some(v) => serde_json::from_value(v.clone())
            .context("parsing linux.resources of the container's saved config"),
    }
}

pub(super) fn save_resources(
    dir: &Path,
    mut config: serde_json::Value,
    res: &LinuxResources,
) -> Result<()> {
    let v = serde_json::to_value(res)?;
    match config.get_mut("linux").and_then(|l| l.as_object_mut()) {
        Some(linux) => {
            linux.insert("resources".into(), v);
        }
        None => {
            if let Some(obj) = config.as_object_mut() {
                obj.insert("linux".into(), serde_json::json!({ "resources": v }));
            }
        }
    }
    let data = serde_json::to_vec(&config)?;
    crate::util::fs::write_atomic(&dir.join(CONFIG_FILE), &data, 0o600)
}
