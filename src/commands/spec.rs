//! `hull spec`: write a default config.json (runc's defaults) into the bundle directory.

use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use anyhow::{bail, Context, Result};
use std::path::Path;

pub const FLAGS: &[FlagSpec] = &[
    flag(&["bundle", "b"], Kind::Value),
    flag(&["rootless"], Kind::Bool),
];

pub fn run(args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    if !p.positional.is_empty() {
        bail!("\"spec\" takes no arguments");
    }
    let dir = Path::new(p.get("bundle").unwrap_or("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = if p.bool("rootless") {
        crate::spec::default::rootless_spec(unsafe { libc::geteuid() }, unsafe { libc::getegid() })
    } else {
        crate::spec::default::default_spec()
    };
    // runc writes the config indented with tabs.
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(&spec, &mut ser)?;
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
