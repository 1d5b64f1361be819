//! Which namespaces a container gets, which are new and which are joined by path.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use std::os::fd::{AsRawFd, OwnedFd};

pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// A namespace to join: its type and an open fd.
pub struct Join {
    pub typ: LinuxNamespaceType,
    pub fd: OwnedFd,
}

/// The plan: new namespaces as clone flags, and joined namespaces as open fds (opened by the
/// parent, before anything else changes, so the paths are the caller's view).
pub struct Plan {
    pub new_flags: libc::c_int,
    pub joins: Vec<Join>,
}

impl Plan {
    pub fn has_new(&self, t: LinuxNamespaceType) -> bool {
        self.new_flags & clone_flag(t) != 0
    }

    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|j| j.typ == t)
    }
}

pub fn plan(namespaces: &[LinuxNamespace]) -> Result<Plan> {
    let mut p = Plan {
        new_flags: 0,
        joins: Vec::new(),
    };
    for ns in namespaces {
        match ns.path() {
            None => p.new_flags |= clone_flag(ns.typ()),
            Some(path) => {
                let f = std::fs::File::open(path).with_context(|| {
                    format!("opening {} namespace {}", ns.typ(), path.display())
                })?;
                p.joins.push(Join {
                    typ: ns.typ(),
                    fd: f.into(),
                });
            }
        }
    }
    // Joining a user namespace must happen before anything else so later joins are checked
    // against the right owner.
    p.joins.sort_by_key(|j| j.typ != LinuxNamespaceType::User);
    Ok(p)
}

pub fn setns(j: &Join) -> Result<()> {
    if unsafe { libc::setns(j.fd.as_raw_fd(), clone_flag(j.typ)) } != 0 {
        let e = std::io::Error::last_os_error();
        bail!("joining {} namespace: {e}", j.typ);
    }
    Ok(())
}

/// Brings up `lo` in a new network namespace (runc's "loopback" network): a fresh namespace
/// has it down, and programs expect 127.0.0.1 to work.
pub fn loopback_up() -> Result<()> {
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(std::io::Error::last_os_error()).context("socket for lo");
    }
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock) };
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) } != 0 {
        return Err(std::io::Error::last_os_error()).context("reading the flags of lo");
    }
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) } != 0 {
        return Err(std::io::Error::last_os_error()).context("bringing lo up");
    }
    Ok(())
}
