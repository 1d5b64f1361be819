//! Containers without a mount namespace of their own make their mounts in the runtime's
//! namespace (as runc). They all hang below the rootfs's bind onto itself; `create` records
//! how many mounts sit on the rootfs before (a caller's overlay may be one) and `delete`
//! detaches what is above that (runc leaves them behind).

use crate::util::proc::unescape_mountinfo;
use anyhow::{Context, Result};
use std::path::Path;

/// In the container's state directory: the number of mounts on the rootfs before create.
const HOST_MOUNTS_FILE: &str = "host-mounts";

/// Number of mounts whose mount point is `path`.
fn mounts_at(path: &Path) -> Result<usize> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    Ok(info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| Path::new(&unescape_mountinfo(mp)) == path)
        .count())
}

/// Before launching a container that shares the runtime's mount namespace.
pub fn record(state_dir: &Path, rootfs: &Path) -> Result<()> {
    let n = mounts_at(rootfs)?;
    std::fs::write(state_dir.join(HOST_MOUNTS_FILE), n.to_string()).context("recording mounts")
}

/// Detaches the container's mounts from the runtime's namespace (nothing if none recorded).
pub fn release(state_dir: &Path, rootfs: &Path) -> Result<()> {
    let Ok(base) = std::fs::read_to_string(state_dir.join(HOST_MOUNTS_FILE)) else {
        return Ok(());
    };
    let base: usize = base.trim().parse().context("bad host-mounts record")?;
    let c = std::ffi::CString::new(rootfs.as_os_str().as_encoded_bytes())?;
    for _ in 0..8 {
        if mounts_at(rootfs)? <= base {
            break;
        }
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("unmounting {}", rootfs.display()));
        }
    }
    Ok(())
}

/// Whether a config.json gives the container no mount namespace.
pub fn shares_runtime_mount_ns(config: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(config) else {
        return false;
    };
    let ns = v["linux"]["namespaces"].as_array();
    !ns.is_some_and(|ns| ns.iter().any(|n| n["type"] == "mount"))
}
