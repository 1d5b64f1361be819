//! Switching to the process's uid, gid and supplementary groups while keeping the capabilities
//! the spec asks for.

use anyhow::{Context, Result};
use oci_spec::runtime::User;

/// Sets groups, gid and uid. PR_SET_KEEPCAPS keeps the permitted set across a switch away
/// from uid 0, so the caller can then install the exact capability sets.
pub fn switch(user: &User, extra_gids: &[u32], setgroups_allowed: bool) -> Result<()> {
    let mut groups: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    groups.extend_from_slice(extra_gids);
    if setgroups_allowed {
        if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setgroups");
        }
    }
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("PR_SET_KEEPCAPS");
    }
    if unsafe { libc::setresgid(user.gid(), user.gid(), user.gid()) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setting gid {}", user.gid()));
    }
    if unsafe { libc::setresuid(user.uid(), user.uid(), user.uid()) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("setting uid {}", user.uid()));
    }
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    if let Some(mask) = user.umask() {
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    Ok(())
}

/// Gives the container user its stdio (runc's fixStdioPermissions): a non-root program must be
/// able to reopen /proc/self/fd/1 or use its console. Only the owner changes (the gid may be
/// the mount's choice); /dev/null and what the user already owns are left alone, and fds that
/// cannot be chowned (unmapped ids, read-only /dev) are skipped, as runc does.
pub fn give_stdio_to(uid: u32) -> Result<()> {
    let null = nix::sys::stat::stat("/dev/null").ok().map(|s| s.st_rdev);
    for fd in 0..=2 {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            continue; // closed stdio
        }
        if st.st_uid == uid || (st.st_rdev != 0 && Some(st.st_rdev) == null) {
            continue;
        }
        if unsafe { libc::fchown(fd, uid, st.st_gid) } != 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(
                e.raw_os_error(),
                Some(libc::EINVAL) | Some(libc::EPERM) | Some(libc::EROFS)
            ) {
                return Err(e).with_context(|| format!("chown of stdio fd {fd}"));
            }
        }
    }
    Ok(())
}
