//! Creating a container (shared by `create` and `run`) and destroying one (shared by `delete`
//! and `run`). Creation is transactional: anything made before a failure is undone, so bad
//! input or a failing step leaves no state dir, cgroup or process behind.

use super::Globals;
use crate::cgroups::{self, Manager};
use crate::process::init::{InitConfig, StartSignal};
use crate::process::launch::{self, Launched, ParentDuties};
use crate::setup::namespaces;
use crate::spec::Bundle;
use crate::state::{ContainerState, Store, CONFIG_FILE, EXEC_FIFO};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

pub struct CreateOptions<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a str>,
    pub console_socket: Option<&'a str>,
    /// `--pidfd-socket`: a unix socket that receives a pidfd of the container's init.
    pub pidfd_socket: Option<&'a str>,
    /// Foreground `run`: if the container wants a terminal and no console socket is given,
    /// hull itself receives the pty master and proxies it.
    pub proxy_terminal: bool,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// `run` starts the program itself (over the sync channel) instead of via exec.fifo.
    pub start: StartSignal,
}

pub struct Created {
    pub state: ContainerState,
    pub launched: Launched,
    /// Where the pty master arrives when hull proxies the terminal (foreground run).
    pub console_receiver: Option<OwnedFd>,
}

/// Undoes a partial create unless disarmed.
struct Rollback<'a> {
    store: &'a Store,
    id: &'a str,
    cgroup: Option<&'a dyn Manager>,
    rdt: Option<crate::setup::rdt::Groups>,
    /// The rootfs and its mount count before create, for a container whose mounts are made
    /// in our own mount namespace.
    host_mounts: Option<(&'a Path, usize)>,
    /// Network devices moved into the container, moved back on failure.
    net_devices: crate::setup::netdev::Attached,
    armed: bool,
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        crate::setup::netdev::restore_all(&self.net_devices);
        if let Some(cg) = self.cgroup {
            if let Err(e) = cg.destroy() {
                crate::logging::warn(&format!("cleanup of cgroup after failed create: {e:#}"));
            }
        }
        if let Some(g) = &self.rdt {
            crate::setup::rdt::remove(g);
        }
        if let Some((rootfs, base)) = self.host_mounts {
            if let Err(e) = crate::setup::host_mounts::release(rootfs, base) {
                crate::logging::warn(&format!("cleanup of mounts after failed create: {e:#}"));
            }
        }
        let _ = self.store.remove(self.id);
    }
}

/// runc's default device cgroup allow list (plus the spec's own rules and devices).
pub(crate) fn device_rules(spec: &Spec) -> Vec<LinuxDeviceCgroup> {
    let linux = spec.linux().as_ref();
    let mut rules: Vec<LinuxDeviceCgroup> = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_string()));
        r
    };
    use LinuxDeviceType::{B, C};
    rules.push(rule(C, None, None, "m"));
    rules.push(rule(B, None, None, "m"));
    for (maj, min) in crate::setup::devices::DEFAULT_DEVICES
        .iter()
        .map(|d| (d.1, d.2))
    {
        rules.push(rule(C, Some(maj as i64), Some(min as i64), "rwm"));
    }
    rules.push(rule(C, Some(136), None, "rwm"));
    rules.push(rule(C, Some(5), Some(2), "rwm"));
    rules.push(rule(C, Some(10), Some(200), "rwm"));
    for d in linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]) {
        let typ = if d.typ() == LinuxDeviceType::B { B } else { C };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    rules
}

pub(super) fn resources_with_devices(spec: &Spec) -> LinuxResources {
    let mut res = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    res.set_devices(Some(device_rules(spec)));
    res
}

fn check_terminal_options(spec: &Spec, o: &CreateOptions) -> Result<()> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && o.console_socket.is_none() && !o.proxy_terminal {
        bail!("cannot allocate tty if hull will detach without setting console socket");
    }
    if !terminal && o.console_socket.is_some() {
        bail!("cannot use console socket if hull will not detach or allocate tty");
    }
    Ok(())
}

/// Creates the container up to the point where its init waits to be started.
pub fn create(g: &Globals, o: &CreateOptions) -> Result<Created> {
    let (bundle, seccomp) = load_and_check(o)?;
    let ns = plan_namespaces(&bundle.spec)?;
    let cgroup = cgroup_manager(g, &bundle.spec, o.id)?;
    crate::steps::mark("namespace plan, cgroup manager");
    let sockets = connect_sockets(&bundle.spec, o)?;
    let dir = g.store.claim(o.id)?;
    let mut rollback = Rollback {
        store: &g.store,
        id: o.id,
        cgroup: None,
        rdt: None,
        host_mounts: None,
        net_devices: Default::default(),
        armed: true,
    };
    let mut state = save_initial_state(g, o.id, &dir, &bundle, &ns, cgroup.as_ref())?;
    crate::steps::mark("state dir");
    rollback.cgroup = Some(cgroup.as_ref());
    rollback.host_mounts = state
        .host_mounts
        .map(|base| (bundle.rootfs.as_path(), base));
    cgroup.create()?;
    cgroup.apply(&resources_with_devices(&bundle.spec))?;
    if let Some(groups) = set_up_intel_rdt(o.id, &bundle.spec)? {
        rollback.rdt = Some(groups.clone());
        state.intel_rdt = Some(groups);
        g.store.save(&state)?;
    }
    // Rootless: what create decided (maybe only part of the cgroup, or none), for the state
    // saved from here on.
    let no_cgroup = g.rootless_cgroups && {
        state.cgroup = Some(cgroup.state()).filter(|c| !c.paths.is_empty());
        state.cgroup.is_none()
    };
    crate::steps::mark("cgroup create and apply");
    let fifo = match o.start {
        StartSignal::ExecFifo => Some(make_fifo(&dir.join(EXEC_FIFO))?),
        StartSignal::SyncMessage => None,
    };
    let early = std::cell::RefCell::new(None);
    let after_clone = |pid: i32| -> Result<()> {
        *early.borrow_mut() = stage_state(g, o, &state, cgroup.as_ref(), no_cgroup, pid)?;
        Ok(())
    };
    crate::steps::mark("exec fifo");
    let mut launched = spawn(
        o,
        &bundle,
        &ns,
        fifo.as_ref(),
        sockets.console.as_ref(),
        sockets.pidfd_receiver.as_ref(),
        cgroup.as_ref(),
        seccomp.as_ref(),
        &after_clone,
    )?;
    crate::logging::debug(&format!(
        "container {} init pid {} is ready",
        o.id, launched.pid
    ));
    rollback.net_devices = std::mem::take(&mut launched.net_devices);
    let early = early.borrow_mut().take();
    if let Err(e) = record_ready_init(
        g,
        o,
        &mut state,
        cgroup.as_ref(),
        &launched,
        early,
        &sockets,
    ) {
        // The init must not outlive a failed create: with `run` its program already runs,
        // with `create` it would wait for a start that cannot come (its fifo goes with the
        // state dir).
        let _ = crate::util::proc::pidfd_send_signal(&launched.pidfd, libc::SIGKILL);
        launch::reap(launched.pid);
        return Err(e);
    }
    crate::steps::mark("save state");
    rollback.armed = false;
    drop(rollback);
    Ok(Created {
        state,
        launched,
        console_receiver: sockets.console_receiver,
    })
}

/// Validates the id, loads the bundle's config and checks what can be checked before anything
/// exists; prepares the seccomp filter.
fn load_and_check(o: &CreateOptions) -> Result<(Bundle, Option<crate::seccomp::Prepared>)> {
    crate::state::id::validate(o.id)?;
    let bundle = crate::spec::load_bundle(o.bundle)?;
    crate::steps::mark("load config");
    check_terminal_options(&bundle.spec, o)?;
    let seccomp = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(s) => Some(crate::seccomp::prepare(s)?),
        None => None,
    };
    crate::steps::mark("seccomp prepare");
    Ok((bundle, seccomp))
}

/// The namespaces to create and join, with the id mappings a user namespace needs checked.
fn plan_namespaces(spec: &Spec) -> Result<namespaces::Plan> {
    let ns = namespaces::plan(
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_deref())
            .unwrap_or(&[]),
    )?;
    let user_ns = oci_spec::runtime::LinuxNamespaceType::User;
    crate::process::idmap::validate(spec, ns.has_new(user_ns), ns.joins(user_ns))?;
    Ok(ns)
}

/// The container's cgroup manager (rootless: limited to what we may use), refused if the
/// cgroup is taken; nothing is created yet.
fn cgroup_manager(g: &Globals, spec: &Spec, id: &str) -> Result<Box<dyn Manager>> {
    let linux = spec.linux().as_ref();
    let cgroup = cgroups::manager_for_spec(spec, id, g.systemd_cgroup, g.rootless_cgroups)?;
    let cgroup: Box<dyn Manager> = if g.rootless_cgroups {
        let limits = cgroups::rootless::wants_limits(linux.and_then(|l| l.resources().as_ref()));
        let explicit_path = linux
            .and_then(|l| l.cgroups_path().as_ref())
            .is_some_and(|p| !p.as_os_str().is_empty());
        Box::new(cgroups::rootless::RootlessCgroup::new(
            cgroup,
            explicit_path,
            limits,
        ))
    } else {
        cgroup
    };
    check_cgroup_is_free(cgroup.as_ref())?;
    Ok(cgroup)
}

/// The sockets create talks to, connected before anything exists so a bad path leaves
/// nothing behind.
struct Sockets {
    /// Where the init sends its pty master: the caller's console socket, or (foreground run)
    /// one end of our own pair.
    console: Option<OwnedFd>,
    /// The other end of that pair, where hull receives the master to proxy it.
    console_receiver: Option<OwnedFd>,
    /// `--pidfd-socket`.
    pidfd_receiver: Option<OwnedFd>,
}

fn connect_sockets(spec: &Spec, o: &CreateOptions) -> Result<Sockets> {
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let (console, console_receiver) = match o.console_socket {
        Some(path) => (
            Some(crate::setup::terminal::connect_console_socket(path)?),
            None,
        ),
        None if terminal && o.proxy_terminal => {
            let (ours, theirs) = crate::util::socketpair()?;
            (Some(theirs), Some(ours))
        }
        None => (None, None),
    };
    let pidfd_receiver = o
        .pidfd_socket
        .map(|path| crate::util::connect_unix(path, "pidfd socket"))
        .transpose()?;
    Ok(Sockets {
        console,
        console_receiver,
        pidfd_receiver,
    })
}

/// Saves the config and a first state (no init yet) in the claimed state directory: recorded
/// before anything else exists, so `delete --force` can clean up after a create that was
/// killed at any later point.
fn save_initial_state(
    g: &Globals,
    id: &str,
    dir: &Path,
    bundle: &Bundle,
    ns: &namespaces::Plan,
    cgroup: &dyn Manager,
) -> Result<ContainerState> {
    std::fs::write(dir.join(CONFIG_FILE), &bundle.raw).context("saving config")?;
    // No mount namespace (none new, none joined): the mounts land in ours, to undo on delete.
    let mount_ns = oci_spec::runtime::LinuxNamespaceType::Mount;
    // (A rootfs that is the host's "/" gets no mounts at all: see rootfs::prepare.)
    let host_mounts =
        if ns.has_new(mount_ns) || ns.joins(mount_ns) || bundle.rootfs == Path::new("/") {
            None
        } else {
            Some(crate::setup::host_mounts::count(&bundle.rootfs)?)
        };
    let mut state = ContainerState {
        id: id.to_string(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::util::time::rfc3339_nano_now(),
        annotations: bundle.spec.annotations().clone(),
        owner: String::new(),
        cgroup: Some(cgroup.state()),
        hooks: bundle.spec.hooks().clone(),
        paused: false,
        shares_pid_ns: !has_private_pid_ns(&bundle.spec),
        intel_rdt: None,
        creator: std::process::id() as i32,
        host_mounts,
    };
    // The annotations are only for `state` and hooks of a created container: the first state
    // goes without them, so a config with megabytes of them is serialized once, not twice.
    let annotations = state.annotations.take();
    g.store.save(&state)?;
    state.annotations = annotations;
    Ok(state)
}

/// linux.intelRdt: makes the resctrl groups, if the config asks for them.
fn set_up_intel_rdt(id: &str, spec: &Spec) -> Result<Option<crate::setup::rdt::Groups>> {
    let Some(r) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) else {
        return Ok(None);
    };
    crate::setup::rdt::setup(&crate::setup::rdt::mount_point()?, id, r).map(Some)
}

/// Runs right after the clone, while the init sets itself up (we only wait meanwhile).
/// Without a cgroup (rootless) only the recorded pid lets `delete --force` find the init of a
/// create that was killed before it finished: it is saved at once. Otherwise the state and
/// pid files are written under temp names now, for [`record`] to rename into place once the
/// init is ready.
fn stage_state(
    g: &Globals,
    o: &CreateOptions,
    state: &ContainerState,
    cgroup: &dyn Manager,
    no_cgroup: bool,
    pid: i32,
) -> Result<Option<Early>> {
    let mut st = state.clone();
    st.pid = pid;
    st.pid_start = crate::util::proc::stat(pid)
        .map(|s| s.start_time)
        .context("reading the init's start time")?;
    if no_cgroup {
        g.store.save(&st)?;
        return Ok(None);
    }
    st.cgroup = Some(cgroup.state()).filter(|c| !c.paths.is_empty());
    let pid_file = o
        .pid_file
        .map(|p| stage_pid_file(Path::new(p), pid))
        .transpose()?;
    Ok(Some(Early {
        pid_start: st.pid_start,
        state_file: g.store.stage(&st)?,
        cgroup: st.cgroup,
        pid_file,
    }))
}

/// Everything recorded once the init is ready: its RDT class, the state and pid file, and
/// its pidfd for the caller's --pidfd-socket.
fn record_ready_init(
    g: &Globals,
    o: &CreateOptions,
    state: &mut ContainerState,
    cgroup: &dyn Manager,
    launched: &Launched,
    early: Option<Early>,
    sockets: &Sockets,
) -> Result<()> {
    state.pid = launched.pid;
    if let Some(groups) = &state.intel_rdt {
        // The init waits for start: it runs the program in its RDT class from the first
        // instruction.
        crate::setup::rdt::add_pid(groups, launched.pid)?;
    }
    // Now with what only exists after the launch (the systemd unit's invocation); a
    // rootless container without a cgroup records none.
    state.cgroup = Some(cgroup.state()).filter(|c| !c.paths.is_empty());
    record(g, o, state, early)?;
    if let Some(sock) = &sockets.pidfd_receiver {
        send_pidfd(sock, &launched.pidfd, "standard")?;
    }
    Ok(())
}

/// What is written after the clone, for [`record`].
struct Early {
    /// The init's start time.
    pid_start: u64,
    /// The cgroup as recorded in `state_file`: the only part of the state that can still
    /// change until the init is ready (the systemd driver's invocation id).
    cgroup: Option<crate::cgroups::CgroupState>,
    state_file: crate::util::fs::Staged,
    pid_file: Option<crate::util::fs::Staged>,
}

/// Saves the state of a ready init and writes the pid file: by renaming the files written
/// after the clone into place when the state is still what they say (the usual case), else
/// by writing them now.
fn record(
    g: &Globals,
    o: &CreateOptions,
    state: &mut ContainerState,
    early: Option<Early>,
) -> Result<()> {
    match early {
        Some(e) if e.cgroup == state.cgroup => {
            state.pid_start = e.pid_start;
            e.state_file.commit()?;
            e.pid_file.map_or(Ok(()), |f| f.commit())
        }
        early => {
            state.pid_start = match early {
                Some(e) => e.pid_start,
                None => crate::util::proc::stat(state.pid)
                    .map(|s| s.start_time)
                    .context("reading the init's start time")?,
            };
            g.store.save(state)?;
            match o.pid_file {
                Some(p) => write_pid_file(Path::new(p), state.pid),
                None => Ok(()),
            }
        }
    }
}

/// runc's checks before a container takes its cgroup (refused since runc 1.2 for a non-empty
/// one): processes already there would share its limits and die with it, and in a frozen
/// cgroup the init would hang in its setup. Nothing is created or removed on refusal: the
/// cgroup is someone else's.
fn check_cgroup_is_free(cgroup: &dyn Manager) -> Result<()> {
    if !cgroup.exists() {
        return Ok(());
    }
    let n = cgroup.pids()?.len();
    if n > 0 {
        bail!("container's cgroup is not empty: {n} process(es) found");
    }
    if cgroup.is_frozen()? {
        bail!("container's cgroup unexpectedly frozen");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn spawn(
    o: &CreateOptions,
    bundle: &Bundle,
    ns: &namespaces::Plan,
    fifo: Option<&OwnedFd>,
    console: Option<&OwnedFd>,
    pidfd_receiver: Option<&OwnedFd>,
    cgroup: &dyn Manager,
    seccomp: Option<&crate::seccomp::Prepared>,
    after_clone: &dyn Fn(i32) -> Result<()>,
) -> Result<Launched> {
    let hooks = bundle.spec.hooks().as_ref();
    let prestart = hooks.and_then(|h| h.prestart().clone()).unwrap_or_default();
    let create_runtime = hooks
        .and_then(|h| h.create_runtime().clone())
        .unwrap_or_default();
    let procs: Vec<PathBuf> = cgroup.state().join_files();
    let new_user = ns.has_new(oci_spec::runtime::LinuxNamespaceType::User);
    let mut cfg = InitConfig {
        id: o.id,
        spec: &bundle.spec,
        bundle: &bundle.dir,
        rootfs: &bundle.rootfs,
        ns,
        fifo,
        start: o.start,
        console,
        preserve_fds: o.preserve_fds,
        listen_fds: crate::setup::fds::listen_fds(),
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        cgroup_procs: if new_user { &[] } else { &procs },
        parent_places: false, // decided by launch()
        cloned_flags: 0,
        seccomp,
        runtime_hooks: !prestart.is_empty() || !create_runtime.is_empty(),
        joined_by_parent: false,
        parent_only_fd: pidfd_receiver.map(|f| f.as_raw_fd()),
        // SAFETY: geteuid cannot fail.
        unprivileged: unsafe { libc::geteuid() } != 0,
    };
    let run_hooks = |pid: i32| -> Result<()> {
        // "creating": create is not over yet (runtime-spec state.md; runc sets it too)
        let st = super::hook_state(o.id, "creating", pid, &bundle.dir, &bundle.spec);
        let env = crate::hooks::DefaultEnv::Inherit;
        let dir = &bundle.dir;
        crate::hooks::run_all_in("prestart", &prestart, &st, env, dir)?;
        crate::hooks::run_all_in("createRuntime", &create_runtime, &st, env, dir)
    };
    let seccomp_agent = |pid: i32, fd: OwnedFd| {
        send_to_agent(o.id, "creating", pid, &bundle.dir, &bundle.spec, &fd)
    };
    launch::launch(
        &mut cfg,
        &ParentDuties {
            cgroup,
            runtime_hooks: &run_hooks,
            seccomp_agent: &seccomp_agent,
            after_clone,
        },
    )
}

/// Sends a seccomp notify fd and the container process state to the agent at
/// `linux.seccomp.listenerPath`, as runc does: status "creating" (the init) or "running" (an
/// exec'd process), with the host pid of the process the filter belongs to.
pub fn send_to_agent(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    spec: &Spec,
    fd: &OwnedFd,
) -> Result<()> {
    let s = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let path = s
        .and_then(|s| s.listener_path().as_ref())
        .context("seccomp notify action without listenerPath")?;
    let state = super::hook_state(id, status, pid, bundle, spec);
    let payload =
        crate::seccomp::listener_payload(&state, s.and_then(|s| s.listener_metadata().as_deref()))?;
    crate::seccomp::send_listener_fd(path, fd, &payload)
}

fn make_fifo(path: &Path) -> Result<OwnedFd> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    let old = unsafe { libc::umask(0) };
    let r = unsafe { libc::mkfifo(c.as_ptr(), 0o622) };
    unsafe { libc::umask(old) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("creating exec fifo");
    }
    crate::util::path::open_root_any(path)
}

/// Hands a pidfd to the caller's `--pidfd-socket` (SCM_RIGHTS), so it can signal and wait on
/// the process without pid-reuse races. The payload says which process it is, with runc's
/// words: "standard" for a container's init, "setns" for an exec'd process.
pub fn send_pidfd(sock: &OwnedFd, pidfd: &OwnedFd, kind: &str) -> Result<()> {
    crate::setup::terminal::send_fd(sock.as_raw_fd(), pidfd.as_raw_fd(), kind)
        .context("sending the pidfd over --pidfd-socket")
}

/// The pid file: the pid with no newline, replaced atomically so readers never see it empty.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    stage_pid_file(path, pid)?.commit()
}

/// [`write_pid_file`] up to the rename.
fn stage_pid_file(path: &Path, pid: i32) -> Result<crate::util::fs::Staged> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    crate::util::fs::stage_atomic(&abs, pid.to_string().as_bytes(), 0o644)
}

/// Removes everything a container has: remaining processes (via the cgroup), the cgroup,
/// poststop hooks (in our working directory), the state directory. Used by `delete`.
pub fn destroy(g: &Globals, st: &ContainerState) -> Result<()> {
    destroy_in(g, st, None)
}

/// [`destroy`] with the poststop hooks started in `hooks_dir` (`run` passes the bundle: runc's
/// `run` has chdir'd there when it destroys the container).
pub fn destroy_in(g: &Globals, st: &ContainerState, hooks_dir: Option<&Path>) -> Result<()> {
    let cgroup = st.cgroup.as_ref().map(cgroups::load_manager).transpose()?;
    if let Some(cg) = cgroup.as_ref().filter(|_| st.paused) {
        // A frozen init cannot die until thawed.
        cg.thaw()?;
    }
    if st.pid > 0 && crate::util::proc::is_alive(st.pid, st.pid_start) {
        kill_and_wait(st.pid, st.pid_start)?;
    }
    crate::steps::mark("kill init");
    if let Some(cg) = cgroup {
        cg.destroy()?;
    }
    if let Some(groups) = &st.intel_rdt {
        crate::setup::rdt::remove(groups);
    }
    if let Some(base) = st.host_mounts {
        crate::setup::host_mounts::release(&st.rootfs, base)?;
    }
    crate::steps::mark("cgroup destroy");
    if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststop().as_ref()) {
        let spec_state = hook_state_from(st, "stopped");
        crate::hooks::run_all_logged("poststop", h, &spec_state, hooks_dir);
    }
    g.store.remove(&st.id)
}

pub fn hook_state_from(st: &ContainerState, status: &str) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": crate::spec::validate::OCI_VERSION,
        "id": st.id, "status": status, "pid": st.pid, "bundle": st.bundle,
    });
    if let Some(a) = st.annotations.as_ref().filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// SIGKILLs the init through a pidfd (no pid-reuse race) and waits until it is gone.
pub fn kill_and_wait(pid: i32, start: u64) -> Result<()> {
    let fd = match crate::util::proc::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(_) => return Ok(()),
    };
    // The pidfd pins the identity: check it is still our process before signalling.
    if !crate::util::proc::is_alive(pid, start) {
        return Ok(());
    }
    let _ = crate::util::proc::pidfd_send_signal(&fd, libc::SIGKILL);
    if !crate::util::proc::pidfd_wait_exit(&fd, 10_000) {
        bail!("container init {pid} did not exit after SIGKILL");
    }
    Ok(())
}

/// Whether the config gives the container a new pid namespace (runc's `IsPrivate(NEWPID)`).
pub(super) fn has_private_pid_ns(spec: &oci_spec::runtime::Spec) -> bool {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    namespaces
        .into_iter()
        .flatten()
        .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none())
}
