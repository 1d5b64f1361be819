//! `hull pause` / `hull resume`: freeze and thaw every process of the container through its
//! cgroup (freezer on v1, cgroup.freeze on v2).

use super::Globals;
use crate::cli::args::{parse, Trailing};
use crate::state::Status;
use anyhow::{bail, Context, Result};

fn set_paused(g: &Globals, args: &[String], cmd: &str, pause: bool) -> Result<i32> {
    let p = parse(args, &[], Trailing::Interleaved)?;
    let id = super::create::single_id(cmd, &p)?;
    crate::state::id::validate(id)?;
    let mut st = g.store.load(id)?;
    let status = st.status(&g.store);
    match (pause, status) {
        (true, Status::Running | Status::Created) => {}
        (true, _) => bail!("container not running"),
        (false, Status::Paused) => {}
        (false, _) => bail!("container not paused"),
    }
    let mgr = crate::cgroups::load_manager(st.cgroup.as_ref().context("container has no cgroup")?)?;
    if pause {
        mgr.freeze()?;
    } else {
        mgr.thaw()?;
    }
    st.paused = pause;
    g.store.save(&st)?;
    Ok(0)
}

pub fn pause(g: &Globals, args: &[String]) -> Result<i32> {
    set_paused(g, args, "pause", true)
}

pub fn resume(g: &Globals, args: &[String]) -> Result<i32> {
    set_paused(g, args, "resume", false)
}
