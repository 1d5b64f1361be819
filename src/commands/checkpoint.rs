//! `hull checkpoint`: save a running container with CRIU (see crate::checkpoint). Unless
//! told to leave it running (or only pre-dumping), the container is gone afterwards, as
//! with runc: CRIU killed its processes, and hull removes its cgroup and state.

use super::Globals;
use crate::checkpoint::{dump, options};
use crate::cli::args::{parse, Trailing};
use crate::state::{Status, CONFIG_FILE};
use anyhow::{bail, Context, Result};

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, options::CHECKPOINT_FLAGS, Trailing::Interleaved)?;
    let id = super::create::single_id("checkpoint", &p)?;
    crate::state::id::validate(id)?;
    let st = g.store.load(id)?;
    match st.status(&g.store) {
        Status::Running | Status::Paused => {}
        s => bail!("Container cannot be checkpointed in {} state", s.as_str()),
    }
    let d = options::dump(&p)?;
    options::prepare_dump_dirs(&d)?;
    let raw = std::fs::read(g.store.dir(id).join(CONFIG_FILE))
        .context("reading the container's saved config")?;
    let spec = crate::spec::parse(&raw)?;
    dump::checkpoint(&g.criu, &st, &spec, &d)?;
    if !(d.leave_running || d.pre_dump) {
        super::container::destroy(g, &st)?;
    }
    Ok(0)
}
