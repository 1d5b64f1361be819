//! `hull create`: set the container up; its program starts with `hull start`.

use super::container::{self, CreateOptions};
use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::process::init::StartSignal;
use anyhow::{bail, Result};
use std::path::Path;

pub const FLAGS: &[FlagSpec] = &[
    flag(&["bundle", "b"], Kind::Value),
    flag(&["console-socket"], Kind::Value),
    flag(&["pidfd-socket"], Kind::Value),
    flag(&["pid-file"], Kind::Value),
    flag(&["no-pivot"], Kind::Bool),
    flag(&["no-new-keyring"], Kind::Bool),
    flag(&["preserve-fds"], Kind::Value),
];

/// The id positional (exactly one).
pub fn single_id<'a>(cmd: &str, p: &'a crate::cli::args::Parsed) -> Result<&'a str> {
    match p.positional.as_slice() {
        [id] => Ok(id),
        [] => bail!("\"{cmd}\" requires exactly 1 argument: the container id"),
        _ => bail!(
            "\"{cmd}\" requires exactly 1 argument, got {}: {:?}",
            p.positional.len(),
            p.positional
        ),
    }
}

pub fn options<'a>(
    p: &'a crate::cli::args::Parsed,
    id: &'a str,
    start: StartSignal,
) -> Result<CreateOptions<'a>> {
    Ok(CreateOptions {
        id,
        bundle: Path::new(p.get("bundle").unwrap_or(".")),
        pid_file: p.get("pid-file"),
        console_socket: p.get("console-socket"),
        pidfd_socket: p.get("pidfd-socket"),
        proxy_terminal: false,
        no_pivot: p.bool("no-pivot"),
        no_new_keyring: p.bool("no-new-keyring"),
        preserve_fds: p.u32("preserve-fds")?.unwrap_or(0),
        start,
    })
}

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    let id = single_id("create", &p)?;
    let o = options(&p, id, StartSignal::ExecFifo)?;
    container::create(g, &o)?;
    Ok(0)
}
