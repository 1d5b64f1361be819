//! The mount(2) calls every mount step shares (the spec's mounts, cgroupfs, devices, masked
//! paths, the console, pivot_root), below all of them so none depends on another's module.

use super::mount_fd::SourceRequest;
use anyhow::{Context, Result};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::Path;

/// What the mount step needs to know about the container.
pub struct MountContext<'a> {
    pub root: &'a OwnedFd,
    pub bundle: &'a Path,
    /// The container has its own cgroup namespace (mount cgroupfs fresh instead of binding).
    pub cgroupns: bool,
    /// Inside a new user namespace: locked mount flags must be preserved on remount.
    pub userns: bool,
    /// Opens a host path as a detached mount tree with the host's credentials, idmapped if
    /// asked (the parent does it; see process::mount_source). Used in a user namespace and
    /// for idmapped mounts.
    pub open_source: &'a SourceOpener<'a>,
    /// The container's linux.uidMappings/gidMappings (uid_map syntax), for `idmap` mounts
    /// that give none of their own.
    pub userns_maps: (String, String),
}

/// Opens a bind source as a detached mount tree.
pub type SourceOpener<'a> = dyn Fn(&SourceRequest) -> Result<OwnedFd> + 'a;

pub fn sys_mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> std::io::Result<()> {
    let c = |s: &str| CString::new(s).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL));
    let src = src.map(c).transpose()?;
    let target = c(target)?;
    let fstype = fstype.map(c).transpose()?;
    let data = data.filter(|d| !d.is_empty()).map(c).transpose()?;
    let p = |o: &Option<CString>| o.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    let r = unsafe { libc::mount(p(&src), target.as_ptr(), p(&fstype), flags, p(&data).cast()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// statvfs(3)'s ST_RELATIME (Linux), which the libc crate has for glibc only.
const ST_RELATIME: libc::c_ulong = 0x1000;

/// Flags of the mount `path` sits on (what an unprivileged remount may not clear, and what a
/// remount must repeat to keep).
pub fn mount_flags(path: &str) -> libc::c_ulong {
    let Ok(c) = CString::new(path) else { return 0 };
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return 0;
    }
    let mut f = 0;
    for (st, ms) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (ST_RELATIME, libc::MS_RELATIME),
    ] {
        if s.f_flag & st != 0 {
            f |= ms;
        }
    }
    f
}

/// Remounts a bind mount with `flags`. In a user namespace the kernel refuses to clear flags
/// locked by the outer mount; then we retry keeping those flags, as runc does.
pub fn remount_bind(target: &str, flags: libc::c_ulong, userns: bool) -> Result<()> {
    let base = libc::MS_BIND
        | libc::MS_REMOUNT
        | (flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT));
    match sys_mount(None, target, None, base, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && userns => {
            sys_mount(None, target, None, base | mount_flags(target), None).context("remount")
        }
        r => r.context("remount"),
    }
}
