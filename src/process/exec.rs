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
use std::path::{Path, PathBuf};

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
    crate::steps::mark("open namespaces");
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
            crate::steps::begin_in_child();
            drop(parent_end);
            let err = match child(cfg, &joins, userns, &child_end) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child_end.send(Tag::Error, format!("{err:#}").as_bytes());
            unsafe { libc::_exit(127) }
        }
        Forked::Parent { pid, pidfd } => {
            crate::steps::mark_with("clone", &|| format!("pid {pid}"));
            drop(child_end);
            let mut ready = false;
            loop {
                match parent_end.recv()? {
                    Some((Tag::Ready, steps)) => {
                        crate::steps::mark("wait for process ready");
                        crate::steps::log_child(&format!("exec[{pid}]"), &steps);
                        ready = true
                    }
                    Some((Tag::Error, msg)) => {
                        super::launch::reap(pid);
                        bail!("{}", String::from_utf8_lossy(&msg));
                    }
                    Some((t, _)) => bail!("unexpected message {t:?} from exec child"),
                    // The channel is close-on-exec: EOF after Ready means the program is running.
                    None if ready => {
                        crate::steps::mark("wait for execve");
                        return Ok(Spawned { pid, pidfd });
                    }
                    None => {
                        let status = super::launch::reap(pid);
                        return Err(anyhow!("exec process exited during setup ({status})"));
                    }
                }
            }
        }
    }
}

/// Moves us into the container's cgroup by writing to `procs` (its cgroup.procs). On cgroup v2
/// that cgroup holds no process once the container made sub-cgroups and enabled domain
/// controllers for them (systemd or another runtime inside): the no-internal-process rule makes
/// the write fail with EBUSY. Then, like runc, join the init's cgroup, which is below it.
fn join_cgroup(procs: &Path, init_pid: i32) -> Result<()> {
    let err = match crate::util::fs::write_value(procs, "0") {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let busy = err
        .root_cause()
        .downcast_ref::<std::io::Error>()
        .and_then(|e| e.raw_os_error())
        == Some(libc::EBUSY);
    match init_cgroup_procs(procs, init_pid).filter(|_| busy) {
        Some(alt) => crate::util::fs::write_value(&alt, "0")
            .context("joining the cgroup of the container's init"),
        None => Err(err.context("joining the container's cgroup")),
    }
}

/// The cgroup.procs of the init's cgroup v2 cgroup (from /proc/<pid>/cgroup, `0::<path>`),
/// when it is the container's cgroup directory (`procs`'s parent) or below it.
fn init_cgroup_procs(procs: &Path, init_pid: i32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{init_pid}/cgroup")).ok()?;
    below_container_cgroup(procs, &text)
}

fn below_container_cgroup(procs: &Path, proc_cgroup: &str) -> Option<PathBuf> {
    let dir = procs.parent()?;
    let init = Path::new(proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?);
    // dir is <cgroup2 mount>/<container path>; find the longest ancestor of the init's path
    // that dir ends with: that is the container path, and the rest is below it.
    let mut p = init;
    while p != Path::new("/") {
        if dir.ends_with(p.strip_prefix("/").ok()?) {
            let rest = init.strip_prefix(p).ok()?;
            return Some(dir.join(rest).join("cgroup.procs"));
        }
        p = p.parent()?;
    }
    None
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
        join_cgroup(f, cfg.init_pid)?;
    }
    crate::steps::mark("join cgroup");
    for (fd, flag) in joins {
        if unsafe { libc::setns(fd.as_raw_fd(), *flag) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("joining namespace (flag {flag:#x})"));
        }
    }
    crate::steps::mark("setns");
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
    crate::steps::mark("close fds, reset signals");
    chan.send(Tag::Ready, &crate::steps::take_buffer())?;
    Err(crate::setup::exec::exec(&f.program))
}

#[cfg(test)]
mod tests {
    use super::below_container_cgroup;
    use std::path::{Path, PathBuf};

    #[test]
    fn init_cgroup_below_the_container_cgroup() {
        let procs = Path::new("/sys/fs/cgroup/nest/c1/cgroup.procs");
        let f = |t: &str| below_container_cgroup(procs, t);
        assert_eq!(
            f("0::/nest/c1/init.scope\n"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/nest/c1/init.scope/cgroup.procs"
            ))
        );
        // hybrid: the unified line among v1 lines
        let hp = Path::new("/sys/fs/cgroup/unified/a/a/cgroup.procs");
        assert_eq!(
            below_container_cgroup(hp, "5:memory:/a/a\n0::/a/a/a/b\n"),
            Some(PathBuf::from("/sys/fs/cgroup/unified/a/a/a/b/cgroup.procs"))
        );
        assert_eq!(
            f("0::/nest/c1\n"),
            Some(PathBuf::from("/sys/fs/cgroup/nest/c1/cgroup.procs"))
        );
        // an init outside the container's cgroup is never followed out of it
        assert_eq!(f("0::/elsewhere/x\n"), None);
        assert_eq!(f("0::/\n"), None);
        assert_eq!(f("4:pids:/nest/c1\n"), None);
        let out = f("0::/c1/x\n");
        assert!(
            out.as_ref()
                .is_none_or(|p| p.starts_with("/sys/fs/cgroup/nest/c1")),
            "{out:?}"
        );
    }
}
