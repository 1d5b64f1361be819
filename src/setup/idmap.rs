//! Idmapped mounts: a user namespace that carries a mount's uidMappings/gidMappings (built by
//! the runtime, in the host's user namespace, since the host ids are what the maps name), and
//! the probe `features` uses to say whether the running kernel supports them.

use super::mount_fd::{clone_tree, setattr, MOUNT_ATTR_IDMAP};
use crate::process::clone::{clone3, Forked};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::LinuxIdMapping;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Mappings in /proc/<pid>/uid_map syntax: "containerID hostID size" lines. An on-disk id
/// `containerID + n` shows as `hostID + n` through the mount.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The container's linux.uidMappings and gidMappings in uid_map syntax (what an `idmap`
/// mount without mappings of its own uses).
pub fn container_maps(linux: Option<&oci_spec::runtime::Linux>) -> (String, String) {
    let text = |m: Option<&Vec<LinuxIdMapping>>| map_text(m.map_or(&[], Vec::as_slice));
    (
        text(linux.and_then(|l| l.uid_mappings().as_ref())),
        text(linux.and_then(|l| l.gid_mappings().as_ref())),
    )
}

/// A user namespace with these maps, as an fd (its holder process is gone when this returns).
pub fn userns_fd(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    if uid_map.is_empty() || gid_map.is_empty() {
        bail!("an idmapped mount needs both uidMappings and gidMappings");
    }
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    match clone3(libc::CLONE_NEWUSER, None)? {
        Forked::Child => {
            // Hold the namespace until the parent is done with it (EOF on the pipe).
            drop(wr);
            let mut b = [0u8; 1];
            unsafe { libc::read(rd.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            unsafe { libc::_exit(0) }
        }
        Forked::Parent { pid, .. } => {
            drop(rd);
            let r = write_maps_and_open(pid, uid_map, gid_map);
            drop(wr);
            crate::process::launch::reap(pid);
            r
        }
    }
}

fn write_maps_and_open(pid: i32, uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let proc = |f: &str| format!("/proc/{pid}/{f}");
    std::fs::write(proc("uid_map"), uid_map)
        .with_context(|| format!("writing idmap uid_map {:?}", uid_map.trim()))?;
    std::fs::write(proc("gid_map"), gid_map)
        .with_context(|| format!("writing idmap gid_map {:?}", gid_map.trim()))?;
    let f = std::fs::File::open(proc("ns/user")).context("opening the idmap user namespace")?;
    Ok(f.into())
}

/// Makes the detached tree `tree` idmapped with `userns` (all of it when `recursive`).
pub fn apply(tree: &OwnedFd, userns: &OwnedFd, recursive: bool) -> Result<()> {
    setattr(tree, recursive, MOUNT_ATTR_IDMAP, 0, Some(userns))
        .context("mount_setattr MOUNT_ATTR_IDMAP (does the filesystem support idmapped mounts?)")
}

/// Whether idmapped mounts work here: clone "/" and idmap it with a one-id namespace.
pub fn supported() -> bool {
    let Ok(tree) = clone_tree(Path::new("/"), false) else {
        return false;
    };
    let Ok(ns) = userns_fd("0 0 1\n", "0 0 1\n") else {
        return false;
    };
    apply(&tree, &ns, false).is_ok()
}
