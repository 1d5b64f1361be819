//! `hull kill ID [SIGNAL]`: signal the init (through a pidfd), or with --all every process in
//! the container's cgroup.

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::state::Status;
use anyhow::{bail, Context, Result};

const FLAGS: &[FlagSpec] = &[flag(&["all", "a"], Kind::Bool)];

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
    if matches!(status, Status::Stopped | Status::Creating) && !p.bool("all") {
        bail!("container not running");
    }
    if p.bool("all") {
        let cg = st.cgroup.as_ref().context("container has no cgroup")?;
        let mgr = crate::cgroups::load_manager(cg)?;
        let pids = mgr.pids()?;
        if pids.is_empty() && status == Status::Stopped {
            bail!("container not running");
        }
        let res = mgr.signal_all(sig);
        // signal_all resumes a paused container (as runc): keep the state file truthful
        if st.paused {
            let mut st = st;
            st.paused = false;
            g.store.save(&st)?;
        }
        res?;
        return Ok(0);
    }
    let fd = crate::util::proc::pidfd_open(st.pid)
        .map_err(|_| anyhow::anyhow!("container not running"))?;
    if !crate::util::proc::is_alive(st.pid, st.pid_start) {
        bail!("container not running");
    }
    crate::util::proc::pidfd_send_signal(&fd, sig).context("sending signal")?;
    Ok(0)
}
