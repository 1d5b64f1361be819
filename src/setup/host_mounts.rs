//! Containers without a mount namespace of their own make their mounts in the runtime's
//! namespace (as runc). They all hang below the rootfs's bind onto itself; `create` records
//! in the container's state how many mounts sit on the rootfs before (a caller's overlay may
//! be one) and `delete` detaches what is above that (runc leaves them behind). Containers
//! with a mount namespace record nothing, so their create and delete read no mountinfo.

use crate::util::mountinfo;
use anyhow::{Context, Result};
use std::path::Path;

/// Number of mounts whose mount point is `path`: what `create` records before launching a
/// container that shares the runtime's mount namespace.
pub fn count(path: &Path) -> Result<usize> {
    let info = mountinfo::read()?;
    Ok(mountinfo::entries(&info)
        .filter(|e| e.mount_point() == path)
        .count())
}

/// Detaches the container's mounts from the runtime's namespace: those stacked on `rootfs`
/// above the `base` recorded by create.
pub fn release(rootfs: &Path, base: usize) -> Result<()> {
    let c = std::ffi::CString::new(rootfs.as_os_str().as_encoded_bytes())?;
    for _ in 0..8 {
        if count(rootfs)? <= base {
            break;
        }
        // NOFOLLOW: a rootfs replaced by a symlink since create must not detach its target.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("unmounting {}", rootfs.display()));
        }
    }
    Ok(())
}
