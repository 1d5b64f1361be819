//! maskedPaths and readonlyPaths, applied inside the container after pivot_root (so every path
//! is resolved within the container's root).

use super::mount_syscalls::{remount_bind, sys_mount};
use anyhow::{bail, Context, Result};
use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;

/// /dev/null must really be the null device before we bind it over anything: a container
/// image could ship a regular file or a symlink there.
fn check_dev_null() -> Result<()> {
    let m = std::fs::symlink_metadata("/dev/null").context("/dev/null")?;
    if !m.file_type().is_char_device() || m.rdev() != libc::makedev(1, 3) {
        bail!("/dev/null is not the null device (1:3); refusing to use it to mask paths");
    }
    Ok(())
}

/// Masks each path once: files get /dev/null bound over them; directories share one empty
/// read-only tmpfs (the first is mounted, the others are binds of it), so any number of
/// masked directories costs one superblock (runc 1.4+).
pub fn mask(paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    check_dev_null()?;
    let mut shared_tmpfs: Option<&str> = None;
    for (i, p) in paths.iter().enumerate() {
        // A handful of paths: a scan of the earlier ones allocates nothing.
        if paths.iter().take(i).any(|q| q == p) {
            continue;
        }
        let meta = match std::fs::symlink_metadata(p) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("masking {p}")),
        };
        let r = match (meta.is_dir(), shared_tmpfs) {
            (true, Some(first)) => sys_mount(Some(first), p, None, libc::MS_BIND, None),
            (true, None) => sys_mount(
                Some("tmpfs"),
                p,
                Some("tmpfs"),
                libc::MS_RDONLY,
                Some(&super::lsm::label_mount_data("tmpfs", "size=0k,mode=0555")),
            )
            .inspect(|()| shared_tmpfs = Some(p)),
            (false, _) => sys_mount(Some("/dev/null"), p, None, libc::MS_BIND, None),
        };
        match r {
            Ok(()) => {}
            // Paths that vanished in between are skipped as runc does; everything else is
            // fatal.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e).with_context(|| format!("masking {p}")),
        }
    }
    Ok(())
}

pub fn readonly(paths: &[String], userns: bool) -> Result<()> {
    for p in paths {
        match sys_mount(Some(p), p, None, libc::MS_BIND | libc::MS_REC, None) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).with_context(|| format!("readonly path {p}")),
        }
        remount_bind(
            p,
            libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            userns,
        )
        .with_context(|| format!("readonly path {p}"))?;
    }
    Ok(())
}
