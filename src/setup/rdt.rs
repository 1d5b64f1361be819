//! `linux.intelRdt`: the container's Intel RDT class of service (CLOS) and monitoring group in
//! the resctrl filesystem, following runtime-spec 1.3.0's rules. The group is made on the host
//! before the init runs, the init's pid (and each `exec`'d process) is written to its `tasks`,
//! and what hull created is removed on delete. Every function takes the resctrl root, so unit
//! tests run against a directory of their own.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxIntelRdt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a container's RDT setup left on the host, recorded in its state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Groups {
    /// `tasks` files a container process joins: its CTRL_MON group, then its MON group.
    pub tasks: Vec<PathBuf>,
    /// Directories hull made and removes on delete, in the order they were made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<PathBuf>,
}

/// Where resctrl is mounted in our mount namespace, from mountinfo. Looked up once per hull
/// invocation: `create` asks when validating the config and again when making the group.
pub fn mount_point() -> Result<PathBuf> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    if let Some(found) = FOUND.get() {
        return found.clone().context(NOT_MOUNTED);
    }
    let info = crate::util::mountinfo::read()?;
    let found = crate::util::mountinfo::entries(&info)
        .find(|e| e.fstype == "resctrl")
        .map(|e| e.mount_point());
    FOUND.get_or_init(|| found).clone().context(NOT_MOUNTED)
}

const NOT_MOUNTED: &str = "linux.intelRdt is set but no resctrl filesystem is mounted (mount -t resctrl resctrl /sys/fs/resctrl)";

/// The spec's rules on the values, checked before anything exists; then resctrl must be there.
pub fn check(rdt: &LinuxIntelRdt) -> Result<()> {
    if let Some(c) = rdt.clos_id().as_deref() {
        if c != "/" && (c.is_empty() || c == "." || c == ".." || c.contains('/')) {
            bail!("linux.intelRdt: invalid closID {c:?}");
        }
    }
    if let Some(mb) = rdt.mem_bw_schema().as_deref() {
        if !mb.starts_with("MB:") {
            bail!("linux.intelRdt.memBwSchema {mb:?} must start with \"MB:\"");
        }
    }
    if schemata_lines(rdt).iter().any(|l| l.contains('\n')) {
        bail!("linux.intelRdt: a schema must not contain a newline");
    }
    mount_point().map(|_| ())
}

/// The lines to write to `schemata`, in the spec's order: l3CacheSchema, memBwSchema, schemata.
fn schemata_lines(rdt: &LinuxIntelRdt) -> Vec<String> {
    let mut lines: Vec<String> = [rdt.l3_cache_schema(), rdt.mem_bw_schema()]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    lines.extend(rdt.schemata().iter().flatten().cloned());
    lines.retain(|l| !l.trim().is_empty());
    lines
}

/// Monitoring asked for: enableMonitoring, or the 1.1-1.2 flags it replaced.
#[allow(deprecated)]
fn wants_monitoring(rdt: &LinuxIntelRdt) -> bool {
    [rdt.enable_monitoring(), rdt.enable_cmt(), rdt.enable_mbm()]
        .iter()
        .any(|f| f.unwrap_or(false))
}

/// Creates (or checks) the groups of container `id` under `root`. On failure, whatever it
/// created is removed again.
pub fn setup(root: &Path, id: &str, rdt: &LinuxIntelRdt) -> Result<Groups> {
    let mut groups = Groups::default();
    let result = setup_into(root, id, rdt, &mut groups);
    if result.is_err() {
        remove(&groups);
    }
    result.map(|()| groups)
}

fn setup_into(root: &Path, id: &str, rdt: &LinuxIntelRdt, groups: &mut Groups) -> Result<()> {
    let lines = schemata_lines(rdt);
    let clos = match rdt.clos_id().as_deref() {
        Some("/") => root.to_path_buf(),
        Some(c) => root.join(c),
        None => root.join(id),
    };
    let named = rdt.clos_id().is_some();
    let existed = clos.is_dir();
    if named && lines.is_empty() && !existed {
        bail!(
            "linux.intelRdt: closID {:?} is not a group in resctrl ({} does not exist)",
            rdt.clos_id().as_deref().unwrap_or(""),
            clos.display()
        );
    }
    if !existed {
        std::fs::create_dir(&clos)
            .with_context(|| format!("linux.intelRdt: creating {}", clos.display()))?;
        if !named {
            // Only the container-id group is hull's to remove (a named CLOS may be shared).
            groups.created.push(clos.clone());
        }
    }
    if !lines.is_empty() {
        if named && existed {
            compare_schemata(&clos, &lines)?;
        } else {
            write_schemata(&clos, &lines)?;
        }
    }
    groups.tasks.push(clos.join("tasks"));
    if wants_monitoring(rdt) {
        let mon = clos.join("mon_groups").join(id);
        std::fs::create_dir(&mon).with_context(|| {
            format!(
                "linux.intelRdt: creating monitoring group {}",
                mon.display()
            )
        })?;
        groups.created.push(mon.clone());
        groups.tasks.push(mon.join("tasks"));
    }
    Ok(())
}

fn write_schemata(clos: &Path, lines: &[String]) -> Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    let path = clos.join("schemata");
    std::fs::write(&path, text)
        .with_context(|| format!("linux.intelRdt: writing {}", path.display()))
}

/// An existing named CLOS must already have the requested schemata (the spec: compare and
/// fail on a mismatch). Values are compared per resource and domain, numerically, since the
/// kernel prints masks in its own width.
fn compare_schemata(clos: &Path, lines: &[String]) -> Result<()> {
    let path = clos.join("schemata");
    let current = std::fs::read_to_string(&path)
        .with_context(|| format!("linux.intelRdt: reading {}", path.display()))?;
    for want in lines {
        let (res, domains) = parse_line(want);
        let have = current
            .lines()
            .map(parse_line)
            .find(|(r, _)| *r == res)
            .map(|(_, d)| d)
            .unwrap_or_default();
        let hex = res.starts_with('L');
        let same = |a: &str, b: &str| match (number(a, hex), number(b, hex)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        };
        let matches = domains
            .iter()
            .all(|(id, v)| have.iter().any(|(hid, hv)| hid == id && same(v, hv)));
        if !matches {
            bail!(
                "linux.intelRdt: closID {} exists with a different schemata: want {want:?}, {} has {:?}",
                clos.display(),
                path.display(),
                current.trim()
            );
        }
    }
    Ok(())
}

/// "L3:0=7f0;1=1f" → ("L3", [("0","7f0"), ("1","1f")]).
fn parse_line(line: &str) -> (String, Vec<(String, String)>) {
    let (res, rest) = line.trim().split_once(':').unwrap_or((line.trim(), ""));
    let domains = rest
        .split(';')
        .filter_map(|d| d.split_once('='))
        .map(|(i, v)| (i.trim().to_string(), v.trim().to_string()))
        .collect();
    (res.trim().to_string(), domains)
}

fn number(v: &str, hex: bool) -> Option<u64> {
    if hex {
        u64::from_str_radix(v, 16).ok()
    } else {
        v.parse().ok()
    }
}

/// Puts process `pid` (0: the caller) in the container's groups: CTRL_MON group first, since
/// the kernel only moves a task into a MON group of the CTRL_MON group it is in.
pub fn add_pid(groups: &Groups, pid: i32) -> Result<()> {
    for t in &groups.tasks {
        crate::util::fs::write_value(t, &pid.to_string())
            .context("linux.intelRdt: joining the group")?;
    }
    Ok(())
}

/// Removes the directories hull made, newest first (a MON group before its CLOS). Gone
/// already is fine; anything else is reported and the rest is still tried.
pub fn remove(groups: &Groups) {
    for dir in groups.created.iter().rev() {
        match std::fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => crate::logging::warn(&format!("removing {}: {e}", dir.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIntelRdtBuilder;

    /// A stand-in resctrl root: a temp dir with the root group's files.
    fn fake_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("hull-rdt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("mon_groups")).unwrap();
        std::fs::write(root.join("tasks"), "").unwrap();
        std::fs::write(
            root.join("schemata"),
            "    L3:0=7ff;1=7ff\n    MB:0=100;1=100\n",
        )
        .unwrap();
        root
    }

    #[test]
    fn container_id_group_is_created_written_and_removed() {
        let root = fake_root("own");
        let rdt = LinuxIntelRdtBuilder::default()
            .l3_cache_schema("L3:0=f")
            .mem_bw_schema("MB:0=50")
            .schemata(vec!["L2:0=3".to_string()])
            .build()
            .unwrap();
        let g = setup(&root, "ctr1", &rdt).unwrap();
        let clos = root.join("ctr1");
        assert_eq!(g.created, vec![clos.clone()]);
        assert_eq!(g.tasks, vec![clos.join("tasks")]);
        assert_eq!(
            std::fs::read_to_string(clos.join("schemata")).unwrap(),
            "L3:0=f\nMB:0=50\nL2:0=3\n"
        );
        std::fs::write(clos.join("tasks"), "").unwrap();
        add_pid(&g, 42).unwrap();
        assert_eq!(std::fs::read_to_string(clos.join("tasks")).unwrap(), "42");
        // The kernel removes a group's files with it; the stand-in needs them gone first.
        std::fs::remove_file(clos.join("tasks")).unwrap();
        std::fs::remove_file(clos.join("schemata")).unwrap();
        remove(&g);
        assert!(!clos.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn named_group_must_exist_or_match_and_is_kept() {
        let root = fake_root("named");
        let missing = LinuxIntelRdtBuilder::default()
            .clos_id("gold")
            .build()
            .unwrap();
        let e = setup(&root, "c", &missing).unwrap_err();
        assert!(format!("{e:#}").contains("closID"), "{e:#}");
        std::fs::create_dir_all(root.join("gold/mon_groups")).unwrap();
        std::fs::write(root.join("gold/tasks"), "").unwrap();
        std::fs::write(root.join("gold/schemata"), "    L3:0=00f;1=7ff\n").unwrap();
        let same = LinuxIntelRdtBuilder::default()
            .clos_id("gold")
            .l3_cache_schema("L3:0=f")
            .enable_monitoring(true)
            .build()
            .unwrap();
        let g = setup(&root, "c", &same).unwrap();
        let mon = root.join("gold/mon_groups/c");
        assert_eq!(
            g.created,
            vec![mon.clone()],
            "a named CLOS is never hull's to remove"
        );
        assert_eq!(g.tasks, vec![root.join("gold/tasks"), mon.join("tasks")]);
        remove(&g);
        assert!(!mon.exists() && root.join("gold").exists());
        let differs = LinuxIntelRdtBuilder::default()
            .clos_id("gold")
            .l3_cache_schema("L3:0=3")
            .build()
            .unwrap();
        assert!(setup(&root, "c", &differs).is_err());
        let root_group = LinuxIntelRdtBuilder::default()
            .clos_id("/")
            .build()
            .unwrap();
        let g = setup(&root, "c", &root_group).unwrap();
        assert_eq!(g.tasks, vec![root.join("tasks")]);
        assert!(g.created.is_empty());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failed_setup_removes_what_it_made() {
        let root = fake_root("fail");
        std::fs::remove_dir(root.join("mon_groups")).unwrap();
        // The new group has no mon_groups in the stand-in: the monitoring group fails.
        let rdt = LinuxIntelRdtBuilder::default()
            .enable_monitoring(true)
            .build()
            .unwrap();
        assert!(setup(&root, "c", &rdt).is_err());
        assert!(!root.join("c").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn bad_values_are_refused() {
        for id in [".", "..", "a/b", ""] {
            let rdt = LinuxIntelRdtBuilder::default().clos_id(id).build().unwrap();
            assert!(check(&rdt).is_err(), "{id}");
        }
        let rdt = LinuxIntelRdtBuilder::default()
            .mem_bw_schema("L3:0=1")
            .build()
            .unwrap();
        assert!(check(&rdt).is_err());
    }
}
