//! Mounts CRIU cannot find on its own, as runc tells it: bind mounts from the host (and the v1
//! cgroup hierarchies, which are bind mounts too) are external mounts; a dump records them
//! under their destination as key, a restore maps each key to the host path to bind again.
//! Masked files are bind mounts of /dev/null; device nodes may be bind mounts (user ns).

use crate::setup::mount_options;
use crate::util::path::{create_in_root, open_root, Leaf};
use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use rust_criu::rust_criu_protobuf::rpc::Ext_mount_map;
use std::path::{Path, PathBuf};

fn map(key: &str, val: &str) -> Ext_mount_map {
    let mut m = Ext_mount_map::new();
    m.set_key(key.to_string());
    m.set_val(val.to_string());
    m
}

/// A destination as an absolute, lexically clean path inside the container.
fn clean_dest(d: &Path) -> String {
    let joined = crate::cgroups::clean_path(&Path::new("/").join(d).to_string_lossy());
    if joined.is_empty() {
        "/".into()
    } else {
        joined
    }
}

fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || mount_options::parse(m.options().as_deref().unwrap_or(&[])).is_bind
}

fn is_cgroup(m: &Mount) -> bool {
    matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"))
}

fn has_cgroupns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup))
}

fn mounts(spec: &Spec) -> &[Mount] {
    spec.mounts().as_deref().unwrap_or(&[])
}

fn bind_source(m: &Mount, bundle: &Path) -> PathBuf {
    let s = m.source().clone().unwrap_or_default();
    if s.is_absolute() {
        s
    } else {
        bundle.join(s)
    }
}

/// Device paths: the spec's and the default set (runc lists them all; CRIU ignores keys
/// that name no mount).
fn device_paths(spec: &Spec) -> Vec<String> {
    let mut v: Vec<String> = crate::setup::devices::DEFAULT_DEVICES
        .iter()
        .map(|d| d.0.to_string())
        .collect();
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[])
    {
        v.push(clean_dest(d.path()));
    }
    v
}

/// The v1 cgroup hierarchies bound into the container: (destination, host dir), seen from a
/// process whose /proc/<pid>/cgroup is `proc_cgroup`.
fn cgroup_binds(spec: &Spec, proc_cgroup: &str) -> Result<Vec<(String, String)>> {
    if has_cgroupns(spec) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for m in mounts(spec).iter().filter(|m| is_cgroup(m)) {
        let dest = clean_dest(m.destination());
        for (name, host) in crate::setup::cgroupfs::v1_bind_sources(proc_cgroup)? {
            out.push((
                format!("{dest}/{name}"),
                host.to_string_lossy().into_owned(),
            ));
        }
    }
    Ok(out)
}

/// The external mounts of a dump of the container whose init is `pid`.
pub fn for_dump(spec: &Spec, pid: i32) -> Result<Vec<Ext_mount_map>> {
    let mut out = Vec::new();
    for m in mounts(spec).iter().filter(|m| is_bind(m)) {
        let d = clean_dest(m.destination());
        out.push(map(&d, &d));
    }
    let proc_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .context("reading the init's cgroups")?;
    for (dest, _) in cgroup_binds(spec, &proc_cgroup)? {
        out.push(map(&dest, &dest));
    }
    // A masked file is /dev/null bound over it; a masked directory is a tmpfs CRIU dumps.
    let masked = spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[]);
    for p in masked {
        let inside = format!("/proc/{pid}/root/{}", p.trim_start_matches('/'));
        match std::fs::metadata(&inside) {
            Ok(md) if !md.is_dir() => out.push(map(p, "/dev/null")),
            _ => {}
        }
    }
    for d in device_paths(spec) {
        out.push(map(&d, &d));
    }
    Ok(out)
}

/// The external mounts of a restore: each key to the host path to bind. `proc_cgroup` is the
/// cgroup file of the CRIU process, already placed in the container's cgroups.
pub fn for_restore(spec: &Spec, bundle: &Path, proc_cgroup: &str) -> Result<Vec<Ext_mount_map>> {
    let mut out = Vec::new();
    for m in mounts(spec).iter().filter(|m| is_bind(m)) {
        out.push(map(
            &clean_dest(m.destination()),
            &bind_source(m, bundle).to_string_lossy(),
        ));
    }
    for (dest, host) in cgroup_binds(spec, proc_cgroup)? {
        out.push(map(&dest, &host));
    }
    let masked = spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_ref());
    if masked.is_some_and(|m| !m.is_empty()) {
        out.push(map("/dev/null", "/dev/null"));
    }
    for d in device_paths(spec) {
        out.push(map(&d, &d));
    }
    Ok(out)
}

/// Creates the mountpoints CRIU will mount on, as create would have made them: a rootfs
/// copied to another host (or one never used for a create) may lack them. Mountpoints below
/// a tmpfs are skipped: CRIU restores the tmpfs with its content.
pub fn make_mountpoints(spec: &Spec, rootfs: &Path, bundle: &Path) -> Result<()> {
    let root = open_root(rootfs)?;
    let tmpfs: Vec<String> = mounts(spec)
        .iter()
        .filter(|m| m.typ().as_deref() == Some("tmpfs"))
        .map(|m| clean_dest(m.destination()))
        .collect();
    for m in mounts(spec) {
        let dest = clean_dest(m.destination());
        if is_cgroup(m) || tmpfs.iter().any(|t| dest.starts_with(&format!("{t}/"))) {
            continue;
        }
        let leaf = if is_bind(m) && !bind_source(m, bundle).is_dir() {
            Leaf::File
        } else {
            Leaf::Dir
        };
        create_in_root(&root, Path::new(&dest), leaf)
            .with_context(|| format!("creating the restore mountpoint {dest}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_clean_and_absolute() {
        assert_eq!(clean_dest(Path::new("data/../etc//hosts")), "/etc/hosts");
        assert_eq!(clean_dest(Path::new("/")), "/");
    }
}
