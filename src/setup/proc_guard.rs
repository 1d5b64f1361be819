//! runc's rule for config mounts inside /proc (CVE-2019-16884 / CVE-2019-19921 class): a mount
//! over part of the container's procfs can swallow what is written there (attr/exec, the LSM
//! label of the next exec) or fake what the kernel reports, so nothing is mounted inside /proc
//! but over the few files lxcfs emulates, and /proc itself takes only a procfs. The check is
//! made on the destination as written and on the opened mount point, so a symlink in the image
//! that leads into a procfs mounted earlier is caught too.

use anyhow::{bail, Result};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

/// The files lxcfs (and similar FUSE emulations) mount over; runc allows these.
const EMULATED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/pressure/cpu",
    "/proc/pressure/io",
    "/proc/pressure/memory",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Types runc mounts without this check (a procfs itself, and what it never places in /proc).
pub fn exempt(typ: &str) -> bool {
    matches!(
        typ,
        "proc" | "sysfs" | "tmpfs" | "mqueue" | "cgroup" | "cgroup2"
    )
}

/// Refuses a mount of type `typ` at `dest` (the config's destination, absolute inside the
/// container) where runc would: checked before anything is created for it.
pub fn check_dest(dest: &Path, typ: &str) -> Result<()> {
    let dest = lexical(dest);
    if !dest.starts_with("/proc") {
        return Ok(());
    }
    if dest == Path::new("/proc") {
        if typ == "proc" {
            return Ok(());
        }
        bail!(
            "{:?} cannot be mounted because it is not of type proc",
            dest
        );
    }
    allowed_inside(&dest)
}

/// Refuses a mount point that turned out to be on a procfs (reached through a symlink).
pub fn check_target(dest: &Path, target: &OwnedFd) -> Result<()> {
    if crate::util::path::fs_magic(target)? != crate::util::path::PROC_SUPER_MAGIC {
        return Ok(());
    }
    allowed_inside(&lexical(dest))
}

fn allowed_inside(dest: &Path) -> Result<()> {
    if EMULATED.iter().any(|e| dest == Path::new(e)) {
        return Ok(());
    }
    bail!("{:?} cannot be mounted because it is inside /proc", dest)
}

/// `dest` with `.` and `..` resolved lexically (as inside the rootfs: `..` stops at `/`).
fn lexical(dest: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in dest.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_paths() {
        assert_eq!(
            lexical(Path::new("/a/../proc/./1/attr")),
            Path::new("/proc/1/attr")
        );
        assert_eq!(lexical(Path::new("/../../proc")), Path::new("/proc"));
        assert_eq!(lexical(Path::new("/procfoo")), Path::new("/procfoo"));
        assert!(!lexical(Path::new("/procfoo")).starts_with("/proc"));
    }

    #[test]
    fn rules() {
        assert!(check_dest(Path::new("/data"), "bind").is_ok());
        assert!(check_dest(Path::new("/proc"), "proc").is_ok());
        assert!(check_dest(Path::new("/proc/meminfo"), "bind").is_ok());
        let e = check_dest(Path::new("/x/../proc/1/attr/exec"), "bind").unwrap_err();
        assert!(e.to_string().contains("inside /proc"), "{e}");
        let e = check_dest(Path::new("/proc"), "bind").unwrap_err();
        assert!(e.to_string().contains("not of type proc"), "{e}");
        let dir: OwnedFd = std::fs::File::open("/tmp").unwrap().into();
        assert!(check_target(Path::new("/data"), &dir).is_ok());
        // A mount point on a procfs is inside /proc whatever the destination says.
        let procfs: OwnedFd = std::fs::File::open("/proc/self").unwrap().into();
        let e = check_target(Path::new("/elsewhere"), &procfs).unwrap_err();
        assert!(e.to_string().contains("inside /proc"), "{e}");
    }
}
