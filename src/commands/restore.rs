//! `hull restore`: a new container from a checkpoint (see crate::checkpoint::restore). It is
//! registered like a created one (state dir, saved config, cgroup with the config's
//! resources), CRIU restores the processes into it, and the state file records the restored
//! init, so state, exec, kill and delete treat it like any other container. In the
//! foreground hull supervises it as `run` does (signals, terminal, exit status, delete).

use super::container;
use super::run::{supervise_pid, SignalFd};
use super::Globals;
use crate::cgroups::{self, Manager};
use crate::checkpoint::{options, restore};
use crate::cli::args::{parse, Parsed, Trailing};
use crate::spec::Bundle;
use crate::state::{ContainerState, CONFIG_FILE};
use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Undoes a failed restore: cgroup and state directory.
struct Rollback<'a> {
    g: &'a Globals,
    id: &'a str,
    cgroup: &'a dyn Manager,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = self.cgroup.destroy() {
                crate::logging::warn(&format!("cleanup of cgroup after failed restore: {e:#}"));
            }
            let _ = self.g.store.remove(self.id);
        }
    }
}

fn terminal(bundle: &Bundle) -> bool {
    bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false)
}

/// runc's console rules: a detached terminal needs a console socket, and a console socket
/// needs a terminal.
fn check_terminal(bundle: &Bundle, p: &Parsed) -> Result<()> {
    let sock = p.get("console-socket").is_some();
    if terminal(bundle) && p.bool("detach") && !sock {
        bail!("cannot allocate tty if hull will detach without setting console socket");
    }
    if !terminal(bundle) && sock {
        bail!("cannot use console socket if hull will not detach or allocate tty");
    }
    Ok(())
}

/// The state before CRIU runs (pid 0: being created). Fields not named are the defaults, so
/// state fields added later (recorded by create) start empty here too.
fn new_state(id: &str, bundle: &Bundle, cgroup: &dyn Manager) -> ContainerState {
    ContainerState {
        id: id.to_string(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::util::time::rfc3339_nano_now(),
        annotations: bundle.spec.annotations().clone(),
        cgroup: Some(cgroup.state()),
        hooks: bundle.spec.hooks().clone(),
        shares_pid_ns: !container::has_private_pid_ns(&bundle.spec),
        creator: std::process::id() as i32,
        ..Default::default()
    }
}

/// prestart and createRuntime hooks, when CRIU has made the namespaces (runc's
/// "setup-namespaces" handling).
fn run_hooks(id: &str, bundle: &Bundle, pid: i32) -> Result<()> {
    let Some(h) = bundle.spec.hooks().as_ref() else {
        return Ok(());
    };
    let st = super::hook_state(id, "created", pid, &bundle.dir, &bundle.spec);
    let inherit = || crate::hooks::DefaultEnv::Inherit;
    // From the bundle, as `create` runs them (runc's restore chdirs there too).
    crate::hooks::run_all_in(
        "prestart",
        h.prestart().as_deref().unwrap_or(&[]),
        &st,
        inherit(),
        &bundle.dir,
    )?;
    crate::hooks::run_all_in(
        "createRuntime",
        h.create_runtime().as_deref().unwrap_or(&[]),
        &st,
        inherit(),
        &bundle.dir,
    )
}

/// The container's cgroup manager, as create makes it (cgroupsPath, driver, annotations).
fn new_cgroup(g: &Globals, id: &str, bundle: &Bundle) -> Result<Box<dyn Manager>> {
    cgroups::manager_for_spec(&bundle.spec, id, g.systemd_cgroup, g.rootless_cgroups)
}

/// The state file now names the restored init: from here on it is an ordinary container.
fn record_restored(
    g: &Globals,
    state: &mut ContainerState,
    pid: i32,
    cgroup: &dyn Manager,
) -> Result<()> {
    state.pid = pid;
    state.pid_start = crate::util::proc::stat(pid)
        .map(|s| s.start_time)
        .context("reading the restored init's start time")?;
    state.cgroup = Some(cgroup.state());
    g.store.save(state)
}

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, options::RESTORE_FLAGS, Trailing::Interleaved)?;
    let id = super::create::single_id("restore", &p)?;
    crate::state::id::validate(id)?;
    let common = options::common(&p)?;
    let bundle = crate::spec::load_bundle(Path::new(p.get("bundle").unwrap_or(".")))?;
    if bundle
        .spec
        .linux()
        .as_ref()
        .is_some_and(|l| l.intel_rdt().is_some())
    {
        // create joins the resctrl group; CRIU's restore would not: refuse rather than run
        // without the class the config asks for.
        bail!("restore of a container with linux.intelRdt is not supported by hull");
    }
    check_terminal(&bundle, &p)?;
    let console = p
        .get("console-socket")
        .map(crate::setup::terminal::connect_console_socket)
        .transpose()?;
    let detach = p.bool("detach");
    if !detach && !p.bool("no-subreaper") {
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let signals = if detach {
        None
    } else {
        Some(SignalFd::block_all()?)
    };
    let cgroup = new_cgroup(g, id, &bundle)?;
    let dir = g.store.claim(id)?;
    let mut rollback = Rollback {
        g,
        id,
        cgroup: cgroup.as_ref(),
        armed: true,
    };
    std::fs::write(dir.join(CONFIG_FILE), &bundle.raw).context("saving config")?;
    let mut state = new_state(id, &bundle, cgroup.as_ref());
    g.store.save(&state)?;
    cgroup.create()?;
    cgroup.apply(&container::resources_with_devices(&bundle.spec))?;

    // The pty master of a terminal container goes to the console socket, or (foreground
    // without one) stays with us to proxy.
    let mut master: Option<OwnedFd> = None;
    let req = restore::Request {
        criu: &g.criu,
        common: &common,
        spec: &bundle.spec,
        bundle: &bundle.dir,
        rootfs: &bundle.rootfs,
        state_dir: &dir,
        cgroup: cgroup.as_ref(),
    };
    let pid = restore::restore(
        &req,
        &mut restore::Handlers {
            namespaces_ready: &mut |pid| run_hooks(id, &bundle, pid),
            pty_master: &mut |fd| match &console {
                Some(sock) => {
                    crate::setup::terminal::send_fd(sock.as_raw_fd(), fd.as_raw_fd(), "/dev/ptmx")
                }
                None => {
                    master = Some(fd);
                    Ok(())
                }
            },
        },
    )?;
    record_restored(g, &mut state, pid, cgroup.as_ref())?;
    let pidfd = crate::util::proc::pidfd_open(pid).context("pidfd of the restored init")?;
    if let Some(pf) = p.get("pid-file") {
        if let Err(e) = container::write_pid_file(Path::new(pf), pid) {
            let _ = crate::util::proc::pidfd_send_signal(&pidfd, libc::SIGKILL);
            return Err(e);
        }
    }
    rollback.armed = false;
    drop(rollback);
    if detach {
        return Ok(0);
    }
    let sigs = signals.as_ref().expect("foreground has signals");
    let code = supervise_pid(pid, &pidfd, sigs, master.as_ref())?;
    // runc's restore, like run, has chdir'd to the bundle: poststop hooks start there
    container::destroy_in(g, &state, Some(&state.bundle))?;
    Ok(code)
}
