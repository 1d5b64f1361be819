//! `hull exec`: run a new process in an existing container, from `--process` JSON or from
//! the command line (using the container's process as the template, as runc does).

use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Parsed, Trailing};
use crate::process::exec::{self, ExecConfig};
use crate::state::{Status, CONFIG_FILE};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capabilities, Capability, Process, User};
use std::os::fd::AsRawFd;
use std::str::FromStr;

pub const FLAGS: &[FlagSpec] = &[
    flag(&["console-socket"], Kind::Value),
    flag(&["pidfd-socket"], Kind::Value),
    flag(&["cwd"], Kind::Value),
    flag(&["env", "e"], Kind::Multi),
    flag(&["tty", "t"], Kind::Bool),
    flag(&["user", "u"], Kind::Value),
    flag(&["additional-gids", "g"], Kind::Multi),
    flag(&["process", "p"], Kind::Value),
    flag(&["detach", "d"], Kind::Bool),
    flag(&["pid-file"], Kind::Value),
    flag(&["process-label"], Kind::Value),
    flag(&["apparmor"], Kind::Value),
    flag(&["no-new-privs"], Kind::Bool),
    flag(&["cap", "c"], Kind::Multi),
    flag(&["preserve-fds"], Kind::Value),
    flag(&["cgroup"], Kind::Multi),
    flag(&["ignore-paused"], Kind::Bool),
];

fn parse_user(s: &str, u: &mut User) -> Result<()> {
    let (uid, gid) = match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    u.set_uid(
        uid.parse()
            .with_context(|| format!("invalid --user {s:?}: uid must be numeric"))?,
    );
    if let Some(g) = gid {
        u.set_gid(
            g.parse()
                .with_context(|| format!("invalid --user {s:?}: gid must be numeric"))?,
        );
    }
    Ok(())
}

fn add_caps(p: &mut Process, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut caps = p.capabilities().clone().unwrap_or_default();
    let extra: Capabilities = names
        .iter()
        .map(|n| {
            let full = if n.to_ascii_uppercase().starts_with("CAP_") {
                n.to_ascii_uppercase()
            } else {
                format!("CAP_{}", n.to_ascii_uppercase())
            };
            Capability::from_str(full.trim_start_matches("CAP_"))
                .map_err(|_| anyhow::anyhow!("unknown capability {n:?}"))
        })
        .collect::<Result<_>>()?;
    let merge = |s: &Option<Capabilities>| -> Option<Capabilities> {
        Some(
            s.clone()
                .unwrap_or_default()
                .union(&extra)
                .cloned()
                .collect(),
        )
    };
    let (b, e, pm, i, a) = (
        merge(caps.bounding()),
        merge(caps.effective()),
        merge(caps.permitted()),
        merge(caps.inheritable()),
        merge(caps.ambient()),
    );
    caps.set_bounding(b)
        .set_effective(e)
        .set_permitted(pm)
        .set_inheritable(i)
        .set_ambient(a);
    p.set_capabilities(Some(caps));
    Ok(())
}

/// The process to run: `--process` file as is, or the container's process with the
/// command-line overrides.
fn build_process(p: &Parsed, template: Option<&Process>, cmd: &[String]) -> Result<Process> {
    if let Some(path) = p.get("process") {
        let raw = std::fs::read(path).with_context(|| format!("reading process file {path}"))?;
        let proc: Process =
            serde_json::from_slice(&raw).with_context(|| format!("parsing process file {path}"))?;
        crate::spec::validate::check_process(&proc)?;
        return Ok(proc);
    }
    if cmd.is_empty() {
        bail!("exec: no command given (args or --process are required)");
    }
    let mut proc = template
        .cloned()
        .context("container config has no process")?;
    proc.set_args(Some(cmd.to_vec()));
    proc.set_command_line(None);
    let mut env = proc.env().clone().unwrap_or_default();
    env.extend(p.all("env"));
    proc.set_env(Some(env));
    if let Some(cwd) = p.get("cwd") {
        proc.set_cwd(cwd.into());
    }
    proc.set_terminal(Some(p.bool("tty")));
    let mut user = proc.user().clone();
    if let Some(u) = p.get("user") {
        parse_user(u, &mut user)?;
    }
    let gids = p
        .all("additional-gids")
        .iter()
        .map(|g| {
            g.parse::<u32>()
                .with_context(|| format!("invalid --additional-gids {g:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    if !gids.is_empty() {
        user.set_additional_gids(Some(gids));
    }
    proc.set_user(user);
    if p.bool("no-new-privs") {
        proc.set_no_new_privileges(Some(true));
    }
    add_caps(&mut proc, &p.all("cap"))?;
    crate::spec::validate::check_process(&proc)?;
    Ok(proc)
}

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::VerbatimAfter(1))?;
    let Some((id, cmd)) = p.positional.split_first() else {
        bail!("\"exec\" requires at least 1 argument: the container id")
    };
    crate::state::id::validate(id)?;
    for unsupported in ["process-label", "apparmor", "cgroup"] {
        if p.get(unsupported).is_some_and(|v| !v.is_empty()) {
            bail!("--{unsupported} is not supported by hull yet");
        }
    }
    let st = g.store.load(id)?;
    match st.status(&g.store) {
        Status::Created | Status::Running => {}
        Status::Paused if p.bool("ignore-paused") => {}
        Status::Paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        _ => bail!("cannot exec in a stopped container"),
    }
    let raw = std::fs::read(g.store.dir(id).join(CONFIG_FILE))
        .context("reading the container's saved config")?;
    let spec = crate::spec::parse(&raw)?;
    crate::steps::mark("load state and config");
    let process = build_process(&p, spec.process().as_ref(), cmd)?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::prepare(s)?),
        None => None,
    };
    crate::steps::mark_with("process, seccomp prepare", &|| {
        format!("{:?}", process.args().as_deref().unwrap_or_default())
    });
    let detach = p.bool("detach");
    let terminal = process.terminal().unwrap_or(false);
    if terminal && detach && p.get("console-socket").is_none() {
        bail!("cannot allocate tty if hull will detach without setting console socket");
    }
    if !terminal && p.get("console-socket").is_some() {
        bail!("cannot use console socket if hull will not detach or allocate tty");
    }
    let internal_console = if terminal && p.get("console-socket").is_none() {
        Some(super::run::socketpair()?)
    } else {
        None
    };
    let console = match (&internal_console, p.get("console-socket")) {
        (Some((_, theirs)), _) => Some(theirs.try_clone()?),
        (None, Some(path)) => Some(crate::setup::terminal::connect_console_socket(path)?),
        _ => None,
    };
    let pidfd_receiver = p
        .get("pidfd-socket")
        .map(|path| crate::util::connect_unix(path, "pidfd socket"))
        .transpose()?;
    let cgroup_procs = st
        .cgroup
        .as_ref()
        .map(|c| c.join_files())
        .unwrap_or_default();
    let signals = if detach {
        None
    } else {
        Some(super::run::SignalFd::block_all()?)
    };
    let spawned = exec::spawn(&ExecConfig {
        init_pid: st.pid,
        process: &process,
        seccomp: seccomp.as_ref(),
        cgroup_procs,
        console: console.as_ref(),
        preserve_fds: p.u32("preserve-fds")?.unwrap_or(0),
    })?;
    drop(console);
    if let Some(pf) = p.get("pid-file") {
        super::container::write_pid_file(std::path::Path::new(pf), spawned.pid)?;
    }
    if let Some(sock) = &pidfd_receiver {
        super::container::send_pidfd(sock, &spawned.pidfd, "setns")?;
    }
    if detach {
        return Ok(0);
    }
    let master = match &internal_console {
        Some((ours, _)) => Some(crate::setup::terminal::recv_fd(ours.as_raw_fd())?),
        None => None,
    };
    let code = super::run::supervise_pid(
        spawned.pid,
        &spawned.pidfd,
        signals.as_ref().expect("foreground"),
        master.as_ref(),
    )?;
    crate::steps::mark_with("wait for exit", &|| format!("exit code {code}"));
    Ok(code)
}
