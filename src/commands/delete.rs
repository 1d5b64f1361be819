//! `hull delete [--force] ID`.

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::state::Status;
use anyhow::{bail, Result};

pub const FLAGS: &[FlagSpec] = &[flag(&["force", "f"], Kind::Bool)];

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    let id = super::create::single_id("delete", &p)?;
    crate::state::id::validate(id)?;
    let force = p.bool("force");
    // Like runc, a forced delete of a container that is already gone succeeds: callers use
    // it to make sure nothing is left.
    if force && !g.store.exists(id) {
        return Ok(0);
    }
    let st = match g.store.load(id) {
        Ok(st) => st,
        // A state file that cannot be read must not make the container undeletable: a forced
        // delete removes what it can (the directory) and says what it could not.
        Err(e) if force => {
            crate::logging::warn(&format!(
                "{e:#}; removing the state directory of {id} anyway"
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
