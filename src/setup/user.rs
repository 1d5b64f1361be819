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
