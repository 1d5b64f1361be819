//! `hull update [flags] <id>`: change the resource limits of a created, running or paused
//! container, like runc's `update`.
//!
//! The new values (from flags, or from a JSON file / stdin with `--resources`) are merged over
//! the resources stored for the container (the `linux.resources` of the config copy in the
//! state directory), applied through the cgroup manager and then stored, so the next update
//! sees them. As in runc, only these fields can change: blockIO.weight, the cpu and cpuset
//! values, memory limit/reservation/swap/checkBeforeUpdate, the pids limit and `unified`; and,
//! beyond runc (which ignores all `devices` rules in an update), the `devices` rules of
//! `--resources` that deny, applied after the container's own: an update can take device
//! access away, never grant it. Other updates never touch the device cgroup.
//!
//! Files: `changes` turns the flags or the JSON of `--resources` into [`Changes`] (with
//! `go_numbers` parsing numbers the way runc's Go code does, error texts included); `apply`
//! merges them over the stored resources, and this file runs the command.

mod apply;
mod changes;
mod go_numbers;

use super::Globals;
use crate::cli::args::{parse, Parsed, Trailing};
use crate::state::Status;
use anyhow::{bail, Context, Result};
use apply::{
    added_device_rules, device_rules, merge, save_added_device_rules, save_resources,
    stored_config, stored_resources,
};
pub use changes::FLAGS;
use changes::{changes_from_flags, changes_from_json, check_int_flags, read_resources_input};
use std::path::Path;

/// Intel RDT: hull does not manage resctrl groups. Like runc, an unavailable feature gets
/// runc's words; an available one is still refused (clearly) rather than ignored.
fn check_intel_rdt(p: &Parsed) -> Result<()> {
    let l3 = p.get("l3-cache-schema").unwrap_or("");
    let mb = p.get("mem-bw-schema").unwrap_or("");
    let info = Path::new("/sys/fs/resctrl/info");
    if !l3.is_empty() && !info.join("L3").exists() {
        bail!("Intel RDT/CAT: l3 cache schema is not enabled");
    }
    if !mb.is_empty() && !info.join("MB").exists() {
        bail!("Intel RDT/MBA: memory bandwidth schema is not enabled");
    }
    if !l3.is_empty() || !mb.is_empty() {
        bail!("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by hull");
    }
    Ok(())
}

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    check_int_flags(&p)?;
    let id = super::create::single_id("update", &p)?;
    crate::state::id::validate(id)?;
    let st = g.store.load(id)?;
    let changes = match p.get("resources").filter(|r| !r.is_empty()) {
        Some(path) => {
            let data = read_resources_input(path)?;
            changes_from_json(&data)?
        }
        None => changes_from_flags(&p)?,
    };
    if changes.kernel_memory {
        crate::logging::warn("Kernel memory settings are ignored and will be removed");
    }
    check_intel_rdt(&p)?;
    match st.status(&g.store) {
        Status::Created | Status::Running | Status::Paused => {}
        Status::Stopped | Status::Creating => bail!("container not running"),
    }
    let cg = st.cgroup.as_ref().context("container has no cgroup")?;
    let mgr = crate::cgroups::load_manager(cg)?;
    let dir = g.store.dir(id);
    let config = stored_config(&dir)?;
    let old = stored_resources(&config)?;
    let (new, mut apply) = merge(&old, &changes)?;
    // Device rules in an update only ever take access away: runc ignores them all (callers
    // such as containerd send the container's whole rule list with every update, and an allow
    // there must not widen what the container was created with); a deny takes effect. The
    // device cgroup is only rewritten when there is one.
    let denials: Vec<_> = changes
        .devices
        .iter()
        .flatten()
        .filter(|r| !r.allow())
        .cloned()
        .collect();
    if changes.devices.iter().flatten().any(|r| r.allow()) {
        crate::logging::debug("update: device rules that allow are ignored, as runc does");
    }
    let devices = if denials.is_empty() {
        None
    } else {
        let before = added_device_rules(&dir)?;
        let mut added = before.clone();
        added.extend(denials);
        apply.set_devices(Some(device_rules(&config, &added)?));
        Some((before, added))
    };
    if let Err(e) = mgr.apply(&apply) {
        // Put back what was there (runc does the same), so a half-applied update does not
        // leave the cgroup out of step with the stored resources.
        let mut back = old.clone();
        let old_devices = devices
            .as_ref()
            .map(|(before, _)| device_rules(&config, before));
        back.set_devices(old_devices.transpose()?);
        back.set_unified(None);
        if let Err(e2) = mgr.apply(&back) {
            crate::logging::warn(&format!("restoring the previous resources: {e2:#}"));
        }
        return Err(e);
    }
    save_resources(&dir, config, &new)?;
    if let Some((_, added)) = &devices {
        save_added_device_rules(&dir, added)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests;
