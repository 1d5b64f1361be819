//! A new process inside a running container (`hull exec`): clone a child, join the init's
//! namespaces and cgroup, take on the process's identity and exec it. Like the init, it never
//! re-execs hull and reports errors over the sync channel; EOF after Ready means exec worked.

use super::clone::{clone3, Forked};
use super::sync::{self, Tag};
use crate::setup::{affinity, fds, finalize, terminal};
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType as NsType, Process};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Namespace kinds an exec'd process joins when the init's differs from ours, with the
/// config's name for each (pid is joined separately, before the clone).
const KINDS: &[(&str, NsType, libc::c_int)] = &[
    ("user", NsType::User, libc::CLONE_NEWUSER),
    ("mnt", NsType::Mount, libc::CLONE_NEWNS),
    ("net", NsType::Network, libc::CLONE_NEWNET),
    ("ipc", NsType::Ipc, libc::CLONE_NEWIPC),
    ("uts", NsType::Uts, libc::CLONE_NEWUTS),
    ("cgroup", NsType::Cgroup, libc::CLONE_NEWCGROUP),
    ("time", NsType::Time, libc::CLONE_NEWTIME),
    ("pid", NsType::Pid, libc::CLONE_NEWPID),
];

pub struct ExecConfig<'a> {
    pub init_pid: i32,
    /// A pidfd of the init, opened before its identity was checked: the namespaces joined
    /// are the init's even if its pid were reused meanwhile.
    pub init_pidfd: &'a OwnedFd,
    pub process: &'a Process,
    /// The container's config: its memory policy and personality apply to `exec` too.
    pub linux: Option<&'a oci_spec::runtime::Linux>,
    pub seccomp: Option<&'a crate::seccomp::Prepared>,
    pub cgroup_procs: Vec<PathBuf>,
    /// resctrl `tasks` files of the container's linux.intelRdt groups.
    pub rdt_tasks: Vec<PathBuf>,
    pub console: Option<&'a OwnedFd>,
    pub preserve_fds: u32,
    /// On EBUSY (cgroup v2 with domain controllers below), join the init's cgroup instead.
    pub cgroup_fallback: bool,
    /// The container's unit in the user's systemd instance and its cgroup directory
    /// (rootless --systemd-cgroup). A process may only move itself across cgroups whose
    /// common ancestor it may write to, and hull run from a login session is outside the
    /// user manager's subtree: then systemd moves the process (AttachProcessesToUnit; the
    /// user manager has the system instance do it), where runc leaves it outside.
    pub systemd_user_unit: Option<(String, PathBuf)>,
    /// Hands a seccomp notify fd (of the process with this host pid) to the agent.
    pub seccomp_agent: &'a dyn Fn(i32, OwnedFd) -> Result<()>,
}

/// The CLONE_NEW* flags of the init's namespaces that differ from ours: those setns(2) with
/// the init's pidfd joins (all at once, user namespace first).
///
/// A namespace the config has the container create (no path) is the init's own since its
/// clone, never ours: no need to look. Every other kind is compared by inode: one joined by
/// path, or not in the config (shared with whoever ran create, which may not be us), and the
/// user namespace always (joining our own fails). A new time namespace is no exception: the
/// init enters it (time_for_children) during its setup.
fn namespaces_to_join(pid: i32, linux: Option<&oci_spec::runtime::Linux>) -> Result<libc::c_int> {
    let nss = linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
    let created = |t: NsType| nss.iter().any(|n| n.path().is_none() && n.typ() == t);
    let mut flags = 0;
    for &(kind, typ, flag) in KINDS {
        let look = typ == NsType::User || !created(typ);
        if !look || differs(pid, kind)? {
            flags |= flag;
        }
    }
    Ok(flags)
}

fn differs(pid: i32, kind: &str) -> Result<bool> {
    let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .with_context(|| format!("container {kind} namespace"))?;
    let ours = std::fs::metadata(format!("/proc/self/ns/{kind}"))?;
    Ok(theirs.ino() != ours.ino() || theirs.dev() != ours.dev())
}

/// setns(2) into the namespaces of process `pidfd` that `flags` name, in one call.
fn join_namespaces(pidfd: &OwnedFd, flags: libc::c_int, what: &str) -> Result<()> {
    if unsafe { libc::setns(pidfd.as_raw_fd(), flags) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("joining the container's {what} (flags {flags:#x})"));
    }
    Ok(())
}

pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

pub fn spawn(cfg: &ExecConfig) -> Result<Spawned> {
    let mut joins = namespaces_to_join(cfg.init_pid, cfg.linux)?;
    let pidns = joins & libc::CLONE_NEWPID != 0;
    joins &= !libc::CLONE_NEWPID;
    let userns = joins & libc::CLONE_NEWUSER != 0;
    // An unprivileged caller may join the container's pid namespace only from inside the
    // user namespace that owns it, and hull itself stays outside: see via_user_namespace.
    crate::steps::mark("find namespaces");
    let two_step = pidns && userns && unsafe { libc::geteuid() } != 0;
    if pidns && !two_step {
        // Only our children enter it: the clone below lands inside the container's pid ns.
        join_namespaces(cfg.init_pidfd, libc::CLONE_NEWPID, "pid namespace")?;
    }
    let (parent_end, child_end) = sync::pair()?;
    // The cgroup.procs entry the clone itself placed the child in (CLONE_INTO_CGROUP).
    let mut placed = None;
    let forked = if two_step {
        let forked = via_user_namespace(cfg.init_pidfd)?;
        joins &= !libc::CLONE_NEWUSER;
        forked
    } else {
        match clone_target(cfg) {
            Some((i, dir)) => match clone3(0, Some(dir.as_raw_fd())) {
                Ok(forked) => {
                    // The child closes it at once: a host directory must not be reachable
                    // through /proc/self/fd from inside (CVE-2024-21626 class).
                    drop(dir);
                    placed = Some(i);
                    forked
                }
                // EBUSY (the no-internal-process rule), no permission, an older kernel: the
                // child joins by writing cgroup.procs, with that path's fallbacks and errors.
                Err(_) => {
                    drop(dir);
                    clone3(0, None)?
                }
            },
            None => clone3(0, None)?,
        }
    };
    match forked {
        Forked::Child => {
            crate::steps::begin_in_child();
            drop(parent_end);
            child_end.forward_logs();
            let err = match child(cfg, placed, joins, userns, &child_end) {
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
                    Some((Tag::Log, line)) => sync::log_forwarded(&line),
                    Some((Tag::JoinCgroupForMe, dir)) => {
                        let dir = PathBuf::from(String::from_utf8_lossy(&dir).into_owned());
                        if let Err(e) = attach_by_systemd(cfg, pid, &dir) {
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                            super::launch::reap(pid);
                            return Err(e);
                        }
                        parent_end.send(Tag::CgroupJoined, b"")?;
                    }
                    Some((Tag::SeccompFd, _)) => {
                        let fd = parent_end
                            .take_fd()
                            .context("seccomp notify fd missing from the exec child")?;
                        (cfg.seccomp_agent)(pid, fd)?;
                        parent_end.send(Tag::SeccompDone, b"")?;
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

/// The exec'd process for an unprivileged caller: an intermediate child joins the
/// container's user namespace (gaining the right to join namespaces it owns) and its pid
/// namespace, then clones the process with CLONE_PARENT (so it is hull's own child, as in the
/// one-step path), reports its pid over a pipe and exits. Returns Child in the process, which
/// is then inside the user namespace already.
fn via_user_namespace(init: &OwnedFd) -> Result<Forked> {
    use std::io::Read;
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    match clone3(0, None)? {
        Forked::Child => {
            drop(rd);
            let flags = libc::CLONE_NEWUSER | libc::CLONE_NEWPID;
            let joined = join_namespaces(init, flags, "user and pid namespaces");
            let report = match joined.and_then(|()| clone3(libc::CLONE_PARENT, None)) {
                Ok(Forked::Child) => return Ok(Forked::Child),
                Ok(Forked::Parent { pid, .. }) => format!("P{pid}"),
                Err(e) => format!("E{e:#}"),
            };
            let _ = nix::unistd::write(&wr, report.as_bytes());
            unsafe { libc::_exit(0) }
        }
        Forked::Parent { pid: middle, .. } => {
            drop(wr);
            let mut buf = Vec::new();
            let read = std::fs::File::from(rd).read_to_end(&mut buf);
            let status = super::launch::reap(middle);
            read.context("reading the exec process's pid from the intermediate process")?;
            let msg = String::from_utf8_lossy(&buf);
            match msg.split_at_checked(1) {
                Some(("P", pid)) => {
                    let pid: i32 = pid
                        .parse()
                        .context("bad pid from the intermediate process")?;
                    match crate::util::proc::pidfd_open(pid) {
                        Ok(pidfd) => Ok(Forked::Parent { pid, pidfd }),
                        Err(e) => {
                            // Our own unreaped child (CLONE_PARENT): its pid cannot be reused.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                            super::launch::reap(pid);
                            Err(e).context("pidfd_open of the exec process")
                        }
                    }
                }
                Some(("E", e)) => bail!("{e}"),
                _ => bail!("intermediate process failed ({status})"),
            }
        }
    }
}

/// The cgroup v2 directory to clone the exec'd process into, with its index in
/// `cfg.cgroup_procs`: the kernel then places the child atomically with the clone, where a
/// write to cgroup.procs waits for an RCU grace period (the threadgroup lock's write side;
/// milliseconds on a busy host, every exec). Not with execCPUAffinity.initial, which must hold
/// while the process joins, nor for the user's systemd unit (its joins may need systemd).
fn clone_target(cfg: &ExecConfig) -> Option<(usize, OwnedFd)> {
    let initial = cfg
        .process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_ref())
        .is_some_and(|c| !c.trim().is_empty());
    if initial || cfg.systemd_user_unit.is_some() {
        return None;
    }
    (cfg.cgroup_procs.iter().enumerate())
        .find_map(|(i, f)| Some((i, crate::cgroups::v2_dir_of_procs(f)?)))
}

/// Moves us into the container's cgroup by writing to `procs` (its cgroup.procs). On cgroup v2
/// that cgroup holds no process once the container made sub-cgroups and enabled domain
/// controllers for them (systemd or another runtime inside): the no-internal-process rule makes
/// the write fail with EBUSY. Then, like runc, join the init's cgroup, which is below it.
fn join_cgroup(procs: &Path, init_pid: i32, fallback: bool) -> Result<()> {
    let err = match crate::util::fs::write_value(procs, "0") {
        Ok(()) => return Ok(()),
        Err(e) if !fallback => return Err(e.context("error adding pid to cgroups")),
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

/// Whether joining failed for want of permission (not a missing or busy cgroup).
fn denied(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| matches!(io.raw_os_error(), Some(libc::EACCES | libc::EPERM)))
}

/// Parent side of [`Tag::JoinCgroupForMe`]: systemd moves `pid` into `dir`, the unit's
/// cgroup or a sub-cgroup of it (exec --cgroup).
fn attach_by_systemd(cfg: &ExecConfig, pid: i32, dir: &Path) -> Result<()> {
    let (unit, unit_dir) = cfg
        .systemd_user_unit
        .as_ref()
        .context("exec child asked for a systemd cgroup join without a systemd unit")?;
    let sub = dir
        .strip_prefix(unit_dir)
        .with_context(|| format!("{} is not below {}", dir.display(), unit_dir.display()))?;
    let sub = match sub.to_str().context("cgroup path is not UTF-8")? {
        "" => String::new(),
        s => format!("/{s}"),
    };
    crate::cgroups::systemd::attach_user_process(unit, &sub, pid)
        .with_context(|| format!("having systemd move the exec'd process into {unit}"))
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

/// Joins the container's cgroup and RDT groups with execCPUAffinity's rules: `initial` while
/// joining; once in, `final`, or else the cgroup's CPUs (runtime-spec: "if omitted or empty,
/// the container's default CPU affinity"; runc resets the same way), never the caller's.
fn join_cgroup_and_groups(
    cfg: &ExecConfig,
    placed: Option<usize>,
    chan: &sync::Channel,
) -> Result<()> {
    fn cpus(l: Option<&String>) -> Option<&str> {
        l.map(String::as_str).filter(|c| !c.trim().is_empty())
    }
    let aff = cfg.process.exec_cpu_affinity().as_ref();
    if let Some(initial) = cpus(aff.and_then(|a| a.initial().as_ref())) {
        affinity::apply(initial, "initial")?;
    }
    let unplaced = (cfg.cgroup_procs.iter().enumerate()).filter(|(i, _)| Some(*i) != placed);
    for (_, f) in unplaced {
        match join_cgroup(f, cfg.init_pid, cfg.cgroup_fallback) {
            Err(e) if denied(&e) && cfg.systemd_user_unit.is_some() => {
                let dir = f.parent().unwrap_or(f);
                chan.send(Tag::JoinCgroupForMe, dir.as_os_str().as_encoded_bytes())?;
                chan.expect(Tag::CgroupJoined)?;
            }
            r => r?,
        }
    }
    for t in &cfg.rdt_tasks {
        crate::util::fs::write_value(t, "0").context("joining the container's RDT group")?;
    }
    match cpus(aff.and_then(|a| a.cpu_affinity_final().as_ref())) {
        Some(fin) => affinity::apply(fin, "final"),
        None => {
            affinity::reset();
            Ok(())
        }
    }
}

/// chroot into the root of process `pid` (a container without a mount namespace).
fn chroot_like(pid: i32) -> Result<()> {
    let root = std::ffi::CString::new(format!("/proc/{pid}/root"))?;
    if unsafe { libc::chroot(root.as_ptr()) } != 0 || unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("chroot into the container's root");
    }
    Ok(())
}

fn child(
    cfg: &ExecConfig,
    placed: Option<usize>,
    joins: libc::c_int,
    userns: bool,
    chan: &sync::Channel,
) -> Result<std::convert::Infallible> {
    // Same protection as the init: nothing in the container may reopen our exe (hull).
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // A session and process group of our own, as runc gives exec'd processes: hull's are
    // outside the container's pid namespace (getpgrp() would be 0 there).
    unsafe { libc::setsid() };
    join_cgroup_and_groups(cfg, placed, chan)?;
    let rlimits = cfg.process.rlimits().as_deref().unwrap_or(&[]);
    if userns {
        // Raising a hard limit needs CAP_SYS_RESOURCE in the host's user namespace: set them
        // before joining the container's.
        crate::setup::rlimits::apply(None, rlimits)?;
    }
    crate::steps::mark("join cgroup");
    if joins != 0 {
        join_namespaces(cfg.init_pidfd, joins, "namespaces")?;
    }
    if joins & libc::CLONE_NEWNS == 0 {
        // The container shares our mount namespace (none in its config): its root is a
        // chroot, which setns does not give us. Take the init's.
        chroot_like(cfg.init_pid)?;
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
            if let Some(fd) = crate::seccomp::load(p)? {
                chan.send_fd(Tag::SeccompFd, &fd)?;
                drop(fd);
                chan.expect(Tag::SeccompDone)?;
            }
        }
        Ok(())
    };
    crate::setup::kattrs::apply(cfg.process, cfg.linux)?;
    crate::setup::lsm::set_exec_labels(cfg.process, false)?;
    let notify = cfg.seccomp.is_some_and(|p| p.uses_notify());
    if !userns {
        crate::setup::rlimits::apply(None, rlimits)?;
    }
    let f = finalize::finalize(cfg.process, &load, notify, userns, 0)?;
    // Said once when the container was created; runc repeats it on every exec, into the
    // stderr of the exec'd program that callers capture. Here it is a debug line.
    for w in &f.ambient_warnings {
        crate::logging::debug(w);
    }
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
