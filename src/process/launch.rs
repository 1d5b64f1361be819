//! The parent side of creating a container process: clone the init into its namespaces, write
//! its id maps and cgroup placement when the child cannot, run host-side hooks when the child
//! asks, and wait until it reports Ready (or an error).

use super::clone::{clone3, Forked};
use super::init::{self, InitConfig};
use super::sync::{self, Tag};
use crate::cgroups::Manager;
use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::LinuxNamespaceType as NS;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};

/// A live init that reported Ready.
pub struct Launched {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Still open for `run`: EOF when the program is exec'd, or an Error if that failed.
    pub chan: sync::Channel,
    /// linux.netDevices moved in, to move back if the create still fails (`create` takes it
    /// into its rollback, so the container's namespace is not held open for long).
    pub net_devices: crate::setup::netdev::Attached,
}

/// Host-side work the parent does on the child's request.
pub struct ParentDuties<'a> {
    pub cgroup: &'a dyn Manager,
    /// Runs prestart + createRuntime hooks with the init's pid.
    pub runtime_hooks: &'a dyn Fn(i32) -> Result<()>,
    /// Hands the init's seccomp notify fd to the agent at listenerPath.
    pub seccomp_agent: &'a dyn Fn(i32, OwnedFd) -> Result<()>,
    /// Runs as soon as the init exists, while it sets itself up: records its pid where no
    /// cgroup would let a later `delete --force` find it after hull was killed mid-create
    /// (rootless without a cgroup), and does what can be done before it is ready.
    pub after_clone: &'a dyn Fn(i32) -> Result<()>,
}

/// The cgroup v2 directory of the first or last of the init's cgroup.procs files (a slice of
/// the rest is what the init still joins), opened for clone3(CLONE_INTO_CGROUP); true when it
/// is the first.
fn clone_into_entry(procs: &[std::path::PathBuf]) -> Option<(bool, OwnedFd)> {
    let first = procs
        .first()
        .and_then(|f| crate::cgroups::v2_dir_of_procs(f));
    if let Some(fd) = first {
        return Some((true, fd));
    }
    let last = procs.last().filter(|_| procs.len() > 1)?;
    Some((false, crate::cgroups::v2_dir_of_procs(last)?))
}

/// Clones the init and drives the handshake until Ready.
pub fn launch(cfg: &mut InitConfig, duties: &ParentDuties) -> Result<Launched> {
    let (parent_end, child_end) = sync::pair()?;
    let plan = cfg.ns;
    // Joining a pid namespace only affects children: do it here, so the clone lands in it.
    if let Some(j) = plan.joins.iter().find(|j| j.typ == NS::Pid) {
        crate::setup::namespaces::setns(j)?;
    }
    let joins_user = plan.joins(NS::User);
    let new_user = plan.has_new(NS::User);
    // New namespaces come from the clone itself, except: with a joined user namespace they
    // must be created after joining it (so it owns them); cgroup ns only after the cgroup
    // placement; time ns after its offsets are written.
    let mut flags = if joins_user {
        0
    } else {
        plan.new_flags & !(libc::CLONE_NEWTIME | libc::CLONE_NEWCGROUP)
    };
    // A new user namespace needs its maps first; the systemd driver needs the pid to create
    // the unit: then the parent places the init while it waits.
    cfg.parent_places = new_user || duties.cgroup.parent_places();
    if cfg.parent_places {
        cfg.cgroup_procs = &[];
    }
    // The kernel can place the child in its cgroup v2 cgroup atomically with the clone
    // (CLONE_INTO_CGROUP), where the init's write to cgroup.procs would wait for an RCU grace
    // period (milliseconds on a busy host). On a hybrid host the v1 hierarchies are still
    // joined by the init.
    let cgroup_fd = if cfg.parent_places || joins_user {
        None
    } else {
        clone_into_entry(cfg.cgroup_procs)
    };
    let cgroup_fd = cgroup_fd.map(|(first, fd)| {
        let all = cfg.cgroup_procs;
        cfg.cgroup_procs = if first {
            &all[1..]
        } else {
            &all[..all.len() - 1]
        };
        fd
    });
    // The cgroup namespace comes with the clone only once every hierarchy is joined: it is
    // rooted at the cgroups its creator is in.
    if cgroup_fd.is_some() && cfg.cgroup_procs.is_empty() {
        flags |= plan.new_flags & libc::CLONE_NEWCGROUP;
    }
    cfg.cloned_flags = flags;
    crate::steps::mark("prepare clone");
    let forked = if joins_user && plan.has_new(NS::Pid) {
        clone_in_joined_user_ns(cfg)?
    } else {
        clone3(flags, cgroup_fd.as_ref().map(|f| f.as_raw_fd()))?
    };
    match forked {
        Forked::Child => {
            crate::steps::begin_in_child();
            drop(parent_end);
            child_end.forward_logs();
            // The clone already placed us in the cgroup. Close its fd now: it is a host
            // directory, and an open one would be reachable through /proc/self/fd/N by the
            // chdir to process.cwd before exec (CVE-2024-21626 class).
            drop(cgroup_fd);
            init::run(cfg, &child_end)
        }
        Forked::Parent { pid, pidfd } => {
            crate::steps::mark_with("clone", &|| format!("init pid {pid}, flags {flags:#x}"));
            drop(child_end);
            drop(cgroup_fd);
            let mut launched = Launched {
                pid,
                pidfd,
                chan: parent_end,
                net_devices: Default::default(),
            };
            let recorded = (duties.after_clone)(pid);
            match recorded.and_then(|()| handshake(cfg, duties, &mut launched, new_user)) {
                Ok(()) => Ok(launched),
                Err(e) => {
                    let _ = crate::util::proc::pidfd_send_signal(&launched.pidfd, libc::SIGKILL);
                    reap(pid);
                    Err(e)
                }
            }
        }
    }
}

/// A new pid namespace must be created by a process already inside the (joined) user
/// namespace that will own it, and hull itself must stay in the host's namespaces. So an
/// intermediate child joins the cgroup and the namespaces, then clones the init with
/// CLONE_NEWPID | CLONE_PARENT (the init is hull's own child, as in the one-step path),
/// reports the init's pid over a pipe and exits. Returns Child in the init.
fn clone_in_joined_user_ns(cfg: &mut InitConfig) -> Result<Forked> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    match clone3(0, None)? {
        Forked::Child => {
            drop(rd);
            let r = init::enter_cgroup_and_joins(cfg)
                .and_then(|()| clone3(libc::CLONE_PARENT | libc::CLONE_NEWPID, None));
            let report = match r {
                Ok(Forked::Child) => {
                    drop(wr);
                    cfg.cloned_flags = libc::CLONE_NEWPID;
                    cfg.joined_by_parent = true;
                    return Ok(Forked::Child);
                }
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
            let status = reap(middle);
            read.context("reading the init's pid from the intermediate process")?;
            let msg = String::from_utf8_lossy(&buf);
            match msg.split_at_checked(1) {
                Some(("P", pid)) => {
                    let pid: i32 = pid
                        .parse()
                        .context("bad pid from the intermediate process")?;
                    match crate::util::proc::pidfd_open(pid) {
                        Ok(pidfd) => Ok(Forked::Parent { pid, pidfd }),
                        Err(e) => {
                            // Our own child (CLONE_PARENT): its pid cannot be reused before
                            // we reap it, so killing by pid is safe here.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                            reap(pid);
                            Err(e).context("pidfd_open of the container init")
                        }
                    }
                }
                Some(("E", e)) => bail!("{e}"),
                _ => bail!("intermediate process failed ({status})"),
            }
        }
    }
}

fn handshake(
    cfg: &InitConfig,
    duties: &ParentDuties,
    l: &mut Launched,
    new_user: bool,
) -> Result<()> {
    let r = serve_init(cfg, duties, l, new_user);
    if r.is_err() {
        crate::setup::netdev::restore_all(&l.net_devices);
    }
    r
}

/// The parent's side of the init's setup, until it is ready (recording in `l.net_devices`
/// the network devices it moved into the container).
fn serve_init(
    cfg: &InitConfig,
    duties: &ParentDuties,
    l: &mut Launched,
    new_user: bool,
) -> Result<()> {
    if cfg.parent_places {
        if new_user {
            super::idmap::write(l.pid, cfg.spec)?;
            // The init, cloned into its user namespace, cannot set its OOM score itself.
            if let Some(p) = cfg.spec.process().as_ref() {
                crate::setup::attrs::apply_oom_score_adj(Some(l.pid), p)?;
            }
        }
        duties.cgroup.add_pid(l.pid)?;
        l.chan.send(Tag::MapsWritten, b"")?;
        crate::steps::mark("write id maps, place in cgroup");
    }
    // Opened at the init's first request for a bind source (user namespace, idmap).
    let mut sources = None;
    loop {
        match l.chan.recv()? {
            Some((Tag::Ready, steps)) => {
                crate::steps::mark("wait for init ready");
                crate::steps::log_child(&format!("init[{}]", l.pid), &steps);
                return Ok(());
            }
            Some((Tag::SetRlimits, _)) => {
                set_rlimits(cfg, l.pid)?;
                l.chan.send(Tag::RlimitsSet, b"")?;
            }
            Some((Tag::MoveNetDevices, _)) => {
                let linux = cfg.spec.linux().as_ref();
                let devices = crate::setup::netdev::requested(linux)
                    .context("container init asked for network devices the config has none of")?;
                crate::setup::netdev::attach_all(devices, l.pid, &mut l.net_devices)?;
                l.chan.send(Tag::NetDevicesMoved, b"")?;
            }
            Some((Tag::MountSource, req)) => {
                if sources.is_none() {
                    let allowed = super::mount_source::Allowed::new(cfg.spec, cfg.bundle);
                    sources = Some(super::mount_source::Server::new(l.pid, allowed)?);
                }
                if let Some(s) = sources.as_mut() {
                    s.serve(&l.chan, &req)?;
                }
            }
            Some((Tag::RunRuntimeHooks, _)) => {
                crate::steps::mark("wait for init mounts");
                (duties.runtime_hooks)(l.pid)?;
                crate::steps::mark("prestart, createRuntime hooks");
                l.chan.send(Tag::HooksDone, b"")?;
            }
            Some((Tag::Log, line)) => sync::log_forwarded(&line),
            Some((Tag::SeccompFd, _)) => {
                let fd = l
                    .chan
                    .take_fd()
                    .context("seccomp notify fd missing from the container init")?;
                (duties.seccomp_agent)(l.pid, fd)?;
                l.chan.send(Tag::SeccompDone, b"")?;
            }
            Some((Tag::Error, msg)) => {
                reap(l.pid);
                return Err(anyhow!("{}", String::from_utf8_lossy(&msg)));
            }
            Some((t, _)) => bail!("unexpected message {t:?} from container init"),
            None => {
                let status = reap(l.pid);
                bail!("container init exited before it was ready ({status})");
            }
        }
    }
}

/// process.rlimits of a user-namespaced init, set by us at its request (just before its user
/// switch, where it would set them itself): raising a hard limit needs CAP_SYS_RESOURCE in
/// the host's user namespace, which the init lacks; runc's parent sets them at the same point.
/// The host's root owns the init's user namespace, so it may set another uid's limits there.
fn set_rlimits(cfg: &InitConfig, pid: i32) -> Result<()> {
    let limits = cfg
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.rlimits().as_deref());
    crate::setup::rlimits::apply(Some(pid), limits.unwrap_or(&[]))
}

/// Waits for our child `pid` and describes how it ended.
pub fn reap(pid: i32) -> String {
    let mut status = 0;
    loop {
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if r != pid {
            return "unknown status".into();
        }
        break;
    }
    if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        "unknown status".into()
    }
}
