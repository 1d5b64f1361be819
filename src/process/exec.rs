//! A new process inside a running container (`hull exec`): clone a child, join the init's
//! namespaces and cgroup, take on the process's identity and exec it. Like the init, it never
//! re-execs hull and reports errors over the sync channel; EOF after Ready means exec worked.

use super::clone::{clone3, Forked};
use super::sync::{self, Tag};
use crate::setup::{fds, finalize, terminal};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::Process;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Namespace kinds in the order they must be joined (user first: it owns the others).
const KINDS: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("mnt", libc::CLONE_NEWNS),
    ("net", libc::CLONE_NEWNET),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", libc::CLONE_NEWTIME),
];

pub struct ExecConfig<'a> {
    pub init_pid: i32,
    pub process: &'a Process,
    pub seccomp: Option<&'a crate::seccomp::Prepared>,
    pub cgroup_procs: Vec<PathBuf>,
    pub console: Option<&'a OwnedFd>,
    pub preserve_fds: u32,
}

/// The init's namespaces that differ from ours, opened now (in the caller's view).
fn open_namespaces(pid: i32) -> Result<(Vec<(OwnedFd, libc::c_int)>, Option<OwnedFd>, bool)> {
    let differs = |kind: &str| -> Result<Option<OwnedFd>> {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
            .with_context(|| format!("container {kind} namespace"))?;
        let ours = std::fs::metadata(format!("/proc/self/ns/{kind}"))?;
        if theirs.ino() == ours.ino() && theirs.dev() == ours.dev() {
            return Ok(None);
        }
        Ok(Some(
            std::fs::File::open(format!("/proc/{pid}/ns/{kind}"))?.into(),
        ))
    };
    let mut joins = Vec::new();
    let mut userns = false;
    for &(kind, flag) in KINDS {
        if let Some(fd) = differs(kind)? {
            userns |= flag == libc::CLONE_NEWUSER;
            joins.push((fd, flag));
        }
    }
    Ok((joins, differs("pid")?, userns))
}

pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

pub fn spawn(cfg: &ExecConfig) -> Result<Spawned> {
    let (joins, pidns, userns) = open_namespaces(cfg.init_pid)?;
    if let Some(fd) = &pidns {
        // Only our children enter it: the clone below lands inside the container's pid ns.
        if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context("joining the container's pid namespace");
        }
    }
    let (parent_end, child_end) = sync::pair()?;
    match clone3(0, None)? {
        Forked::Child => {
            drop(parent_end);
            let err = match child(cfg, &joins, userns, &child_end) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child_end.send(Tag::Error, format!("{err:#}").as_bytes());
            unsafe { libc::_exit(127) }
        }
        Forked::Parent { pid, pidfd } => {
            drop(child_end);
            let mut ready = false;
            loop {
                match parent_end.recv()? {
                    Some((Tag::Ready, _)) => ready = true,
                    Some((Tag::Error, msg)) => {
                        super::launch::reap(pid);
                        bail!("{}", String::from_utf8_lossy(&msg));
                    }
                    Some((t, _)) => bail!("unexpected message {t:?} from exec child"),
                    // The channel is close-on-exec: EOF after Ready means the program is running.
                    None if ready => return Ok(Spawned { pid, pidfd }),
                    None => {
                        let status = super::launch::reap(pid);
                        return Err(anyhow!("exec process exited during setup ({status})"));
                    }
                }
            }
        }
    }
}

fn child(
    cfg: &ExecConfig,
    joins: &[(OwnedFd, libc::c_int)],
    userns: bool,
    chan: &sync::Channel,
) -> Result<std::convert::Infallible> {
    // Same protection as the init: nothing in the container may reopen our exe (hull).
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    for f in &cfg.cgroup_procs {
        crate::util::fs::write_value(f, "0").context("joining the container's cgroup")?;
    }
    for (fd, flag) in joins {
        if unsafe { libc::setns(fd.as_raw_fd(), *flag) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("joining namespace (flag {flag:#x})"));
        }
    }
    if cfg.process.terminal().unwrap_or(false) {
        let sock = cfg
            .console
            .context("terminal requested but no console socket")?;
        terminal::attach(sock, terminal::console_size(cfg.process), false)?;
    }
    let load = || -> Result<()> {
        if let Some(p) = cfg.seccomp {
            crate::seccomp::load(p)?;
        }
        Ok(())
    };
    let f = finalize::finalize(cfg.process, &load, userns, 0)?;
    if f.seccomp_pending {
        load()?;
    }
    fds::prepare_for_exec(cfg.preserve_fds, &[chan.raw_fd()]);
    crate::setup::attrs::reset_signals();
    chan.send(Tag::Ready, b"")?;
    Err(crate::setup::exec::exec(&f.program))
}
