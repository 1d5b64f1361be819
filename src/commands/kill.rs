//! `hull kill ID [SIGNAL]`: signal the init (through a pidfd), or with --all every process in
//! the container's cgroup.

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::state::Status;
use anyhow::{bail, Context, Result};

pub const FLAGS: &[FlagSpec] = &[flag(&["all", "a"], Kind::Bool)];

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    let (id, sig) = match p.positional.as_slice() {
        [id] => (id.as_str(), "SIGTERM"),
        [id, sig] => (id.as_str(), sig.as_str()),
        _ => bail!("\"kill\" requires 1 or 2 arguments: <container-id> [signal]"),
    };
    crate::state::id::validate(id)?;
    let sig = super::signals::parse(sig)?;
    let st = g.store.load(id)?;
    let status = st.status(&g.store);
    // Without its own pid namespace the init's death leaves the rest alive: SIGKILL goes to
    // the whole cgroup, as runc's Signal does.
    if p.bool("all") || (sig == libc::SIGKILL && st.shares_pid_ns) {
        return kill_all(g, st, status, sig);
    }
    if matches!(status, Status::Stopped | Status::Creating) {
        bail!("container not running");
    }
    let fd = crate::util::proc::pidfd_open(st.pid)
        .map_err(|_| anyhow::anyhow!("container not running"))?;
    if !crate::util::proc::is_alive(st.pid, st.pid_start) {
        bail!("container not running");
    }
    crate::util::proc::pidfd_send_signal(&fd, sig).context("sending signal")?;
    Ok(0)
}

/// `kill --all`: every process in the container's cgroup. A stopped container is not an
/// error (as runc): containerd's shim sends `kill --all KILL` after the init exits whenever
/// the container does not own its pid namespace, to reap leftover children; with nothing
/// left (or the cgroup already gone) there is nothing to do.
fn kill_all(
    g: &Globals,
    st: crate::state::ContainerState,
    status: Status,
    sig: i32,
) -> Result<i32> {
    let stopped = status == Status::Stopped;
    let Some(cg) = st.cgroup.as_ref() else {
        if stopped {
            return Ok(0);
        }
        bail!("container has no cgroup");
    };
    let mgr = crate::cgroups::load_manager(cg)?;
    if stopped && mgr.pids().map_or(true, |p| p.is_empty()) {
        return Ok(0);
    }
    let res = mgr.signal_all(sig);
    // signal_all resumes a paused container (as runc): keep the state file truthful
    if st.paused {
        let mut st = st;
        st.paused = false;
        g.store.save(&st)?;
    }
    res?;
    Ok(0)
}
