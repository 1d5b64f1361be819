//! Building the container's root filesystem in its mount namespace and switching to it.

use super::devices;
use super::mount_syscalls::{self, sys_mount, MountContext};
use super::mounts;
use crate::util::path::{open_root, Leaf};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::os::fd::AsRawFd;
use std::path::Path;

fn propagation_flag(p: &str) -> Result<libc::c_ulong> {
    Ok(match p {
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        other => bail!("invalid rootfsPropagation {other:?}"),
    })
}

pub struct RootfsOptions<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub cgroupns: bool,
    pub userns: bool,
}

/// Mounts everything the spec asks for under the rootfs (still seen from the host's root).
pub fn prepare(o: &RootfsOptions) -> Result<()> {
    let linux = o.spec.linux().as_ref();
    // Stop our mounts from propagating back to the host, and host mounts from leaking in
    // except as the spec's propagation asks (runc's default is rslave).
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .map(propagation_flag)
        .transpose()?;
    let root_flag = match prop {
        Some(f) if f & libc::MS_SHARED != 0 => libc::MS_SHARED | libc::MS_REC,
        Some(f) if f & libc::MS_PRIVATE != 0 => libc::MS_PRIVATE | libc::MS_REC,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    sys_mount(None, "/", None, root_flag, None).context("making / a slave mount")?;
    let rootfs = o.rootfs.to_str().context("rootfs path is not UTF-8")?;
    // pivot_root needs the new root to be a mount point.
    sys_mount(
        Some(rootfs),
        rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .context("bind-mounting rootfs")?;
    if let Some(f) = prop {
        sys_mount(None, rootfs, None, f, None).context("setting rootfsPropagation")?;
    }
    let root = open_root(o.rootfs)?;
    let ctx = MountContext {
        root: &root,
        bundle: o.bundle,
        cgroupns: o.cgroupns,
        userns: o.userns,
    };
    let mut has_dev_mount = false;
    let mut has_devpts = false;
    for m in o.spec.mounts().iter().flatten() {
        let dest = m.destination().to_string_lossy();
        let dest = dest.trim_end_matches('/');
        has_dev_mount |= dest == "/dev";
        has_devpts |= dest == "/dev/pts" && m.typ().as_deref() == Some("devpts");
        mounts::mount_entry(&ctx, m)?;
    }
    let spec_devices: &[_] = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    // Default devices go into a /dev that the spec mounted (usually a tmpfs); without a /dev
    // mount the rootfs's own /dev is used as is, like runc.
    if has_dev_mount {
        devices::create_default_devices(&root, o.userns, spec_devices)?;
        devices::create_symlinks(&root, has_devpts)?;
    }
    devices::create_spec_devices(&root, o.userns, spec_devices)?;
    crate::util::path::create_in_root(&root, Path::new("/dev"), Leaf::Dir).ok();
    Ok(())
}

/// Makes the rootfs the container's `/` with pivot_root, detaching the old root entirely so
/// no host path stays reachable.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let new_root = open_root(rootfs)?;
    let old_root = open_root(Path::new("/"))?;
    if unsafe { libc::fchdir(new_root.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chdir to rootfs");
    }
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // removes the old root without needing a directory for it inside the container.
    let dot = c".";
    if unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pivot_root");
    }
    if unsafe { libc::fchdir(old_root.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chdir to old root");
    }
    sys_mount(None, ".", None, libc::MS_SLAVE | libc::MS_REC, None)
        .context("making old root a slave")?;
    if unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unmounting old root");
    }
    drop(old_root);
    if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chdir /");
    }
    Ok(())
}

/// --no-pivot: move the rootfs over / and chroot (for ramdisk roots where pivot_root fails).
pub fn move_root(rootfs: &Path) -> Result<()> {
    let r = rootfs.to_str().context("rootfs path is not UTF-8")?;
    std::env::set_current_dir(rootfs).context("chdir to rootfs")?;
    sys_mount(Some(r), "/", None, libc::MS_MOVE, None).context("moving rootfs to /")?;
    if unsafe { libc::chroot(c".".as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chroot");
    }
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

/// Remounts / read-only (root.readonly).
pub fn make_root_readonly() -> Result<()> {
    mount_syscalls::remount_bind(
        "/",
        libc::MS_BIND | libc::MS_RDONLY | mount_syscalls::mount_flags("/"),
        true,
    )
    .context("remounting / read-only")
}
