//! `hull ps`: the container's processes (every pid in its cgroup), as JSON or as `ps` output
//! filtered to those pids, like runc.

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::state::Status;
use anyhow::{bail, Context, Result};

pub const FLAGS: &[FlagSpec] = &[flag(&["format", "f"], Kind::Value)];

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::VerbatimAfter(1))?;
    let Some((id, ps_args)) = p.positional.split_first() else {
        bail!("\"ps\" requires at least 1 argument: the container id")
    };
    crate::state::id::validate(id)?;
    let st = g.store.load(id)?;
    // A stopped container lists what is still in its cgroup (usually nothing), as runc does;
    // its cgroup may already be gone.
    let stopped = st.status(&g.store) == Status::Stopped;
    let pids = match st.cgroup.as_ref() {
        Some(cg) => match crate::cgroups::load_manager(cg).and_then(|m| m.pids()) {
            Ok(p) => p,
            Err(_) if stopped => Vec::new(),
            Err(e) => return Err(e),
        },
        None if stopped => Vec::new(),
        None => bail!("container has no cgroup"),
    };
    match p.get("format").unwrap_or("table") {
        "json" => {
            // runc encodes an empty (nil) list as null
            if pids.is_empty() {
                crate::outln!("null")?;
            } else {
                crate::outln!("{}", serde_json::to_string(&pids)?)?;
            }
            Ok(0)
        }
        "table" => table(&pids, ps_args),
        other => bail!("invalid format option {other:?}: use table or json"),
    }
}

fn table(pids: &[i32], ps_args: &[String]) -> Result<i32> {
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    crate::outln!("{header}")?;
    for line in lines {
        if line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
            .is_some_and(|p| pids.contains(&p))
        {
            crate::outln!("{line}")?;
        }
    }
    Ok(0)
}
