//! `hull state`: the OCI state of one container as runc prints it.

use super::Globals;
use crate::cli::args::{parse, Trailing};
use anyhow::Result;

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, &[], Trailing::Interleaved)?;
    let id = super::create::single_id("state", &p)?;
    crate::state::id::validate(id)?;
    let st = g.store.load(id)?;
    let status = st.status(&g.store);
    let out = serde_json::to_string_pretty(&st.to_oci(status))?;
    crate::outln!("{out}")?;
    Ok(0)
}
