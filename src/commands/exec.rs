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
    // Names hull does not know are a warning, as in the config (runtime-spec 1.1+, runc).
    let mut unknown = Vec::new();
    let extra: Capabilities = names
        .iter()
        .filter_map(|n| {
            let upper = n.to_ascii_uppercase();
            let c = Capability::from_str(upper.strip_prefix("CAP_").unwrap_or(&upper));
            if c.is_err() {
                unknown.push(n.clone());
            }
            c.ok()
        })
        .collect();
    crate::setup::caps::warn_unknown(unknown);
    let merge = |s: &Option<Capabilities>| -> Option<Capabilities> {
        Some(
            s.clone()
                .unwrap_or_default()
                .union(&extra)
                .cloned()
                .collect(),
        )
    };
    // As runc 1.3: bounding, effective and permitted. Ambient too when the spec has an
    // inheritable set (the kernel raises only ambient caps that are also inheritable; the
    // others are skipped with a warning), never inheritable itself.
    let ambient = if caps.inheritable().is_some() {
        merge(caps.ambient())
    } else {
        caps.ambient().clone()
    };
    let (b, e, pm) = (
        merge(caps.bounding()),
        merge(caps.effective()),
        merge(caps.permitted()),
    );
    caps.set_bounding(b)
        .set_effective(e)
        .set_permitted(pm)
        .set_ambient(ambient);
    p.set_capabilities(Some(caps));
    Ok(())
}

/// The AppArmor profile and SELinux label of an exec'd process: `--apparmor` and
/// `--process-label` when given, else the process's own, else the container's (as runc: an
/// exec never escapes the container's confinement by leaving them out).
fn set_lsm_labels(proc: &mut Process, p: &Parsed, container: Option<&Process>) {
    let pick = |flag: Option<&str>, own: &Option<String>, theirs: Option<&Option<String>>| {
        flag.filter(|f| !f.is_empty())
            .map(str::to_owned)
            .or_else(|| own.clone().filter(|s| !s.is_empty()))
            .or_else(|| theirs.cloned().flatten().filter(|s| !s.is_empty()))
    };
    let profile = pick(
        p.get("apparmor"),
        proc.apparmor_profile(),
        container.map(|c| c.apparmor_profile()),
    );
    let label = pick(
        p.get("process-label"),
        proc.selinux_label(),
        container.map(|c| c.selinux_label()),
    );
    proc.set_apparmor_profile(profile);
    proc.set_selinux_label(label);
}

/// The process to run: `--process` file as is, or the container's process with the
/// command-line overrides.
fn build_process(p: &Parsed, template: Option<&Process>, cmd: &[String]) -> Result<Process> {
    if let Some(path) = p.get("process") {
        let raw = std::fs::read(path).with_context(|| format!("reading process file {path}"))?;
        let proc = crate::spec::parse_process(&raw)
            .with_context(|| format!("parsing process file {path}"))?;
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
    let st = g.store.load(id)?;
    // Opened before the status check looks at the pid's start time: once that matches, the
    // pidfd is the init's, whatever happens to the pid later.
    let init_pidfd = crate::util::proc::pidfd_open(st.pid);
    match st.status(&g.store) {
        Status::Created | Status::Running => {}
        Status::Paused if p.bool("ignore-paused") => {}
        Status::Paused => {
            bail!("cannot exec in a paused container (use --ignore-paused to override)")
        }
        _ => bail!("cannot exec in a stopped container"),
    }
    let init_pidfd = init_pidfd.context("opening a pidfd of the container's init")?;
    let raw = std::fs::read(g.store.dir(id).join(CONFIG_FILE))
        .context("reading the container's saved config")?;
    let spec = crate::spec::parse_saved(&raw)?;
    crate::steps::mark("load state and config");
    let mut process = build_process(&p, spec.process().as_ref(), cmd)?;
    set_lsm_labels(&mut process, &p, spec.process().as_ref());
    crate::setup::lsm::check_process(&process)?;
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
        Some(crate::util::socketpair()?)
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
    let sub_cgroups = p.all("cgroup");
    let cgroup_procs = match st.cgroup.as_ref() {
        Some(c) => super::exec_cgroup::procs_files(&c.paths, &sub_cgroups)?,
        None if !sub_cgroups.is_empty() => bail!("--cgroup: the container has no cgroup"),
        None => Vec::new(),
    };
    let signals = if detach {
        None
    } else {
        Some(super::run::SignalFd::block_all()?)
    };
    let spawned = exec::spawn(&ExecConfig {
        init_pid: st.pid,
        init_pidfd: &init_pidfd,
        process: &process,
        linux: spec.linux().as_ref(),
        seccomp: seccomp.as_ref(),
        cgroup_procs,
        rdt_tasks: st
            .intel_rdt
            .as_ref()
            .map(|g| g.tasks.clone())
            .unwrap_or_default(),
        console: console.as_ref(),
        preserve_fds: p.u32("preserve-fds")?.unwrap_or(0),
        // an explicit --cgroup is joined as given (runc: "--cgroup / disables the init
        // cgroup fallback")
        cgroup_fallback: sub_cgroups.is_empty(),
        systemd_user_unit: st.cgroup.as_ref().and_then(|c| {
            let unit = c.systemd_unit.clone().filter(|_| c.systemd_user)?;
            Some((unit, c.paths.get("")?.clone()))
        }),
        seccomp_agent: &|pid, fd| {
            super::container::send_to_agent(id, "running", pid, &st.bundle, &spec, &fd)
        },
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
