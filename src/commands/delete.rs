//! `hull delete [--force] ID`.

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::state::{NotExist, Status};
use anyhow::{bail, Result};

pub const FLAGS: &[FlagSpec] = &[flag(&["force", "f"], Kind::Bool)];

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    let id = super::create::single_id("delete", &p)?;
    crate::state::id::validate(id)?;
    let force = p.bool("force");
    let st = match g.store.load(id) {
        Ok(st) => st,
        Err(e) if e.is::<NotExist>() => return delete_leftover(g, id, force, e),
        // A state file that cannot be read must not make the container undeletable (runc
        // 1.1-1.3 refuse even `delete --force` with a bare "EOF"): a forced delete removes
        // what it can (the directory) and says what it could not. The cgroup and processes
        // are left alone: without the state, hull cannot be sure which are this container's
        // (a relative cgroups path depends on the caller's cgroup, a systemd unit name may
        // belong to a newer container by now).
        Err(e) if force => {
            crate::logging::warn(&format!(
                "{e:#}; removing the state directory of {id} anyway (its cgroup and any \
                 process still in it are left as they are)"
            ));
            g.store.remove(id)?;
            return Ok(0);
        }
        Err(e) => return Err(e),
    };
    match st.status(&g.store) {
        Status::Stopped | Status::Created => {}
        _ if force => {}
        s => bail!(
            "cannot delete container {id} that is not stopped: {}",
            s.as_str()
        ),
    }
    crate::steps::mark("load state");
    super::container::destroy(g, &st)?;
    crate::steps::mark("remove state");
    Ok(0)
}

/// No state file: the container is gone, or a create killed right after claiming the
/// directory left it behind. As runc does, the leftover directory is removed either way;
/// without --force the answer is still "container does not exist" (exit 1), which
/// containerd's shim takes as "already deleted"; with --force it is success, since callers use
/// it to make sure nothing is left.
fn delete_leftover(g: &Globals, id: &str, force: bool, e: anyhow::Error) -> Result<i32> {
    g.store.remove(id)?;
    if force {
        return Ok(0);
    }
    Err(e)
}
