//! The container init, in the child of clone3: every in-container setup step in order, then
//! the wait for `start`, then execve. Runs in a fresh copy of hull's single-threaded process,
//! so ordinary Rust is fine here; every error is reported to the parent before exiting.

use super::sync::{Channel, Tag};
use crate::setup::{exec, fds, namespaces::Plan, paths, rootfs, sysctl, terminal};
use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType as NS, Spec};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// How the init learns that it may exec the user program.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StartSignal {
    /// `create`: block opening the exec fifo until `hull start` opens it.
    ExecFifo,
    /// `run`: go on right after Ready. The parent is `run` itself, supervising: a Start
    /// message would only cost one more wake-up of each side before the program runs.
    SyncMessage,
}

/// Everything the init needs, prepared by the parent before clone (so most errors surface
/// before any process exists).
pub struct InitConfig<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub ns: &'a Plan,
    pub fifo: Option<&'a OwnedFd>,
    pub start: StartSignal,
    pub console: Option<&'a OwnedFd>,
    /// fds 3.. to pass through (socket activation + --preserve-fds).
    pub preserve_fds: u32,
    pub listen_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// cgroup.procs files the init writes itself into (when the parent does not place it).
    pub cgroup_procs: &'a [PathBuf],
    /// The parent places the init in its cgroup (new user namespace, or the systemd driver,
    /// which can only create the unit with the init's pid): wait for it before anything else.
    pub parent_places: bool,
    /// The clone already created these namespaces; the rest of `ns.new_flags` is unshared here.
    pub cloned_flags: libc::c_int,
    pub seccomp: Option<&'a crate::seccomp::Prepared>,
    /// Host-side hooks exist: stop and let the parent run prestart/createRuntime.
    pub runtime_hooks: bool,
    /// An intermediate process already placed us in the cgroup and joined the namespaces to
    /// join (a new pid namespace owned by a joined user namespace needs that extra step).
    pub joined_by_parent: bool,
    /// A descriptor of the parent's that the init must not hold (the caller's --pidfd-socket
    /// connection: the caller would see no EOF until the init execs).
    pub parent_only_fd: Option<std::os::fd::RawFd>,
    /// hull runs as an unprivileged user (rootless): decided by the parent, since inside a
    /// joined user namespace our euid already reads as the container's.
    pub unprivileged: bool,
}

/// Entry point in the child. Never returns.
pub fn run(cfg: &InitConfig, chan: &Channel) -> ! {
    close_inherited_fds(cfg, chan);
    let err = match setup(cfg, chan) {
        Ok(prepared) => match wait_and_exec(cfg, chan, prepared) {
            Ok(never) => match never {},
            Err(e) => {
                // After Ready the parent may be gone (create has returned): report on stderr.
                let _ = chan.send(Tag::Error, format!("{e:#}").as_bytes());
                eprintln!("hull: container init: {e:#}");
                unsafe { libc::_exit(127) }
            }
        },
        Err(e) => e,
    };
    let _ = chan.send(Tag::Error, format!("{err:#}").as_bytes());
    unsafe { libc::_exit(1) }
}

/// Keeps only what the init uses: stdio, the preserved range, its channel, the exec fifo, the
/// console socket and the namespaces to join. Everything else the caller or hull had open
/// (the caller's --pidfd-socket connection included: the caller would see no EOF until the
/// init execs) is closed now, not at exec.
fn close_inherited_fds(cfg: &InitConfig, chan: &Channel) {
    let mut keep = vec![chan.raw_fd()];
    keep.extend(cfg.fifo.map(|f| f.as_raw_fd()));
    keep.extend(cfg.console.map(|f| f.as_raw_fd()));
    keep.extend(cfg.ns.joins.iter().map(|j| j.fd.as_raw_fd()));
    keep.retain(|&fd| Some(fd) != cfg.parent_only_fd);
    fds::close_all_but(3 + cfg.preserve_fds + cfg.listen_fds, &keep);
    if let Some(fd) = cfg.parent_only_fd {
        // It may sit in the preserved range: close it explicitly.
        unsafe { libc::close(fd) };
    }
}

/// What's left to do after Ready.
struct Ready {
    program: exec::Prepared,
    caps_after_seccomp: bool,
}

fn write_cgroup_procs(files: &[PathBuf]) -> Result<()> {
    for f in files {
        crate::util::fs::write_value(f, "0").context("joining cgroup")?;
    }
    Ok(())
}

/// Places the calling process in its cgroup and joins every namespace given by path except
/// the pid namespace (joined by the parent before the clone: it only affects children).
pub(crate) fn enter_cgroup_and_joins(cfg: &InitConfig) -> Result<()> {
    // Still in the host's user namespace: set the OOM score now (an intermediate process's
    // is inherited by the init it clones). A new user namespace's init is set by the parent.
    if !cfg.ns.has_new(NS::User) {
        if let Some(p) = cfg.spec.process().as_ref() {
            crate::setup::attrs::apply_oom_score_adj(None, p)?;
        }
    }
    write_cgroup_procs(cfg.cgroup_procs)?;
    for j in &cfg.ns.joins {
        if j.typ != NS::Pid {
            crate::setup::namespaces::setns(j)?;
        }
    }
    Ok(())
}

fn join_namespaces(cfg: &InitConfig, chan: &Channel) -> Result<()> {
    let new_user = cfg.ns.has_new(NS::User);
    let joins_user = cfg.ns.joins(NS::User);
    if new_user || cfg.parent_places {
        // The parent writes our id maps and/or cgroup placement, then lets us go.
        chan.expect(Tag::MapsWritten)?;
    }
    if !cfg.joined_by_parent {
        // cgroup_procs is empty when the parent places us.
        enter_cgroup_and_joins(cfg)?;
        crate::steps::mark("join cgroup, setns");
    }
    // timens_offsets is a /proc/self file of a non-dumpable process (it belongs to the host's
    // root): write it before we become root of the user namespace. We are already in that
    // namespace, so it owns the new time namespace.
    if cfg.ns.has_new(NS::Time) && cfg.cloned_flags & libc::CLONE_NEWTIME == 0 {
        enter_time_namespace(cfg.spec)?;
    }
    if new_user || joins_user {
        // Become root of the user namespace, so what we create is owned by the container's root.
        if unsafe { libc::setresgid(0, 0, 0) } != 0 || unsafe { libc::setresuid(0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context("becoming root in the user namespace");
        }
    }
    let remaining = cfg.ns.new_flags
        & !cfg.cloned_flags
        & !(libc::CLONE_NEWTIME | libc::CLONE_NEWPID | libc::CLONE_NEWUSER);
    if remaining != 0 && unsafe { libc::unshare(remaining) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unshare");
    }
    crate::steps::mark("namespaces");
    Ok(())
}

/// A time namespace's offsets can only be set before any process is in it: unshare (which
/// only affects children), write the offsets, then move ourselves in.
fn enter_time_namespace(spec: &Spec) -> Result<()> {
    if unsafe { libc::unshare(libc::CLONE_NEWTIME) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unshare time namespace");
    }
    let mut lines = String::new();
    for (clock, off) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
        .into_iter()
        .flatten()
    {
        let id = match clock.as_str() {
            "monotonic" => libc::CLOCK_MONOTONIC,
            "boottime" => libc::CLOCK_BOOTTIME,
            other => bail!("unknown time namespace clock {other:?}"),
        };
        lines.push_str(&format!(
            "{id} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if !lines.is_empty() {
        crate::util::fs::write_value(Path::new("/proc/self/timens_offsets"), &lines)?;
    }
    let f = std::fs::File::open("/proc/self/ns/time_for_children").context("time_for_children")?;
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWTIME) } != 0 {
        return Err(std::io::Error::last_os_error()).context("entering time namespace");
    }
    Ok(())
}

fn setup(cfg: &InitConfig, chan: &Channel) -> Result<Ready> {
    enter_session_and_namespaces(cfg, chan)?;
    let spec = cfg.spec;
    let linux = spec.linux().as_ref();
    set_up_network(cfg, chan, linux)?;
    let process = spec.process().as_ref().context("config has no process")?;
    // Also when hull itself runs in a user namespace (rootless podman runs the runtime as
    // root of its own one): the same limits apply (no mknod, locked mount flags), as runc
    // sees it.
    let userns =
        cfg.ns.has_new(NS::User) || cfg.ns.joins(NS::User) || crate::rootless::running_in_user_ns();
    // No mount namespace in the config: the container's mounts are made in the runtime's
    // namespace and its root is a chroot (as runc); `delete` unmounts them.
    let host_mount_ns = !cfg.ns.has_new(NS::Mount) && !cfg.ns.joins(NS::Mount);
    prepare_rootfs(cfg, chan, userns, host_mount_ns)?;
    run_create_hooks(cfg, chan, process)?;
    switch_root(cfg, host_mount_ns)?;
    set_up_stdio_and_names(cfg, process, linux)?;
    protect_paths(spec, linux, userns)?;
    apply_process_settings(cfg, chan, process, linux, userns)?;
    let notify = cfg.seccomp.is_some_and(|p| p.uses_notify());
    let f = crate::setup::finalize::finalize(
        process,
        &|| load_seccomp(cfg, chan),
        notify,
        userns,
        cfg.listen_fds,
    )?;
    for w in &f.ambient_warnings {
        crate::logging::warn(w);
    }
    chan.send(Tag::Ready, &crate::steps::take_buffer())?;
    Ok(Ready {
        program: f.program,
        caps_after_seccomp: f.seccomp_pending,
    })
}

/// Non-dumpable (unless rootless), a session of our own, then the cgroup and namespaces.
fn enter_session_and_namespaces(cfg: &InitConfig, chan: &Channel) -> Result<()> {
    // Nothing in the container may open /proc/<us>/exe (the hull binary) while we are hull:
    // a non-dumpable process's /proc entries are root-owned and ptrace-protected.
    //
    // Run by an unprivileged user (rootless) we stay dumpable, as runc's init does: the
    // parent must open our /proc/<pid>/uid_map, and the user our /proc/<pid>/ns files to exec
    // into or join a created container; the container's root is that user, who cannot write a
    // hull binary it does not own (and gains nothing by rewriting one it does); processes
    // exec'd into the container have fewer capabilities than we do, so the kernel refuses
    // them ptrace.
    let dumpable = if cfg.unprivileged { 1 } else { 0 };
    if !cfg.unprivileged {
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    // Our own session and process group (as runc's init): the caller's are outside the
    // container's pid namespace, where they would read as 0.
    unsafe { libc::setsid() };
    join_namespaces(cfg, chan)?;
    if cfg.ns.has_new(NS::User) || cfg.ns.joins(NS::User) {
        // Becoming root in the user namespace reset it to the kernel's suid_dumpable.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable, 0, 0, 0) };
    }
    Ok(())
}

/// The CPU affinity reset, lo up in a new network namespace, and linux.netDevices moved in.
fn set_up_network(
    cfg: &InitConfig,
    chan: &Channel,
    linux: Option<&oci_spec::runtime::Linux>,
) -> Result<()> {
    // Now in the container's cgroup: drop the affinity inherited from the caller (runc).
    crate::setup::affinity::reset();
    if cfg.ns.has_new(NS::Network) {
        crate::setup::namespaces::loopback_up()?;
    }
    if crate::setup::netdev::requested(linux).is_some() {
        // Our network namespace exists now: the parent moves the devices in.
        chan.send(Tag::MoveNetDevices, b"")?;
        chan.expect(Tag::NetDevicesMoved)?;
    }
    Ok(())
}

/// The config's mounts and the devices, under the rootfs (still seen from the host's root).
fn prepare_rootfs(
    cfg: &InitConfig,
    chan: &Channel,
    userns: bool,
    host_mount_ns: bool,
) -> Result<()> {
    crate::setup::lsm::use_mount_label(cfg.spec);
    // Run by an unprivileged user, or as root of a user namespace, the parent has no more
    // rights on the host than we have and may not enter our mount namespace and come back:
    // the tree is cloned here, with the same (the user's) access to the path.
    let clone_here = cfg.unprivileged || crate::rootless::running_in_user_ns();
    let open_source = |req: &crate::setup::mount_fd::SourceRequest| {
        if clone_here && req.idmap.is_none() {
            return crate::setup::mount_fd::clone_tree(&req.path, req.recursive)
                .with_context(|| format!("bind source {}", req.path.display()));
        }
        super::mount_source::request(chan, req)
    };
    rootfs::prepare(&rootfs::RootfsOptions {
        spec: cfg.spec,
        rootfs: cfg.rootfs,
        bundle: cfg.bundle,
        cgroupns: cfg.ns.has_new(NS::Cgroup) || cfg.ns.joins(NS::Cgroup),
        userns,
        open_source: &open_source,
        host_mount_ns,
    })?;
    crate::steps::mark("mounts, devices");
    Ok(())
}

/// prestart/createRuntime hooks (run by the parent, on the host) and createContainer hooks
/// (run here, in the container's namespaces, before the root switch).
fn run_create_hooks(
    cfg: &InitConfig,
    chan: &Channel,
    process: &oci_spec::runtime::Process,
) -> Result<()> {
    if cfg.runtime_hooks {
        chan.send(Tag::RunRuntimeHooks, b"")?;
        chan.expect(Tag::HooksDone)?;
        crate::steps::mark("wait for runtime hooks");
    }
    if let Some(h) = cfg
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.create_container().as_ref())
    {
        // runc runs them from the rootfs (its init chdirs there first): hooks that mount into
        // the rootfs by relative path (`./lib/...`, runc's hooks library test) rely on it.
        // pivot_root and chroot set their own working directory afterwards.
        std::env::set_current_dir(cfg.rootfs)
            .with_context(|| format!("chdir to rootfs {}", cfg.rootfs.display()))?;
        // "creating", as runc's rootfs_linux.go: create is not over yet
        let state = crate::commands::hook_state(
            cfg.id,
            "creating",
            std::process::id() as i32,
            cfg.bundle,
            cfg.spec,
        );
        let env = hook_env(process);
        crate::hooks::run_all(
            "createContainer",
            h,
            &state,
            crate::hooks::DefaultEnv::Process(&env),
        )?;
        crate::steps::mark("createContainer hooks");
    }
    Ok(())
}

/// Makes the rootfs our `/`: pivot_root (or a move with --no-pivot), a chroot without a
/// mount namespace of our own.
fn switch_root(cfg: &InitConfig, host_mount_ns: bool) -> Result<()> {
    if host_mount_ns {
        rootfs::chroot(cfg.rootfs)?;
    } else {
        if cfg.no_pivot {
            rootfs::move_root(cfg.rootfs)?;
        } else {
            rootfs::pivot(cfg.rootfs)?;
        }
        rootfs::apply_root_propagation(cfg.spec)?;
    }
    crate::steps::mark("pivot_root");
    Ok(())
}

/// The terminal or stdio, hostname and domainname, sysctls.
fn set_up_stdio_and_names(
    cfg: &InitConfig,
    process: &oci_spec::runtime::Process,
    linux: Option<&oci_spec::runtime::Linux>,
) -> Result<()> {
    if process.terminal().unwrap_or(false) {
        setup_terminal(cfg, process)?;
    } else {
        // (The session of its own that CRIU needs was made above.)
        crate::setup::dev_null::reopen_for_stdio()?;
    }
    if let Some(h) = cfg.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).context("sethostname")?;
    }
    if let Some(d) = cfg.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(std::io::Error::last_os_error()).context("setdomainname");
        }
    }
    if let Some(s) = linux.and_then(|l| l.sysctl().as_ref()) {
        sysctl::apply(s)?;
    }
    crate::steps::mark("terminal, hostname, sysctl");
    Ok(())
}

/// root.readonly, linux.readonlyPaths and linux.maskedPaths.
fn protect_paths(
    spec: &Spec,
    linux: Option<&oci_spec::runtime::Linux>,
    userns: bool,
) -> Result<()> {
    if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly().unwrap_or(false))
    {
        rootfs::make_root_readonly()?;
    }
    if let Some(l) = linux {
        paths::readonly(l.readonly_paths().as_deref().unwrap_or(&[]), userns)?;
        paths::mask(l.masked_paths().as_deref().unwrap_or(&[]))?;
    }
    crate::steps::mark("readonly root, readonly and masked paths");
    Ok(())
}

/// LSM exec labels, keyring and the other process attributes, kernel attributes
/// (scheduler, I/O priority, ...), rlimits (set by the parent in a user namespace).
fn apply_process_settings(
    cfg: &InitConfig,
    chan: &Channel,
    process: &oci_spec::runtime::Process,
    linux: Option<&oci_spec::runtime::Linux>,
    userns: bool,
) -> Result<()> {
    crate::setup::lsm::set_exec_labels(process, !cfg.no_new_keyring)?;
    crate::setup::attrs::apply_process_attrs(cfg.id, cfg.no_new_keyring)?;
    crate::setup::kattrs::apply(process, linux)?;
    crate::steps::mark("process attributes");
    let rlimits = process.rlimits().as_deref().unwrap_or(&[]);
    if userns && !rlimits.is_empty() {
        // Raising a hard limit needs the host's CAP_SYS_RESOURCE: the parent sets them.
        chan.send(Tag::SetRlimits, b"")?;
        chan.expect(Tag::RlimitsSet)?;
    } else {
        crate::setup::rlimits::apply(None, rlimits)?;
    }
    Ok(())
}

/// What the in-container hooks without their own env see: the container process's
/// environment (runc's init takes it on before running them).
fn hook_env(p: &oci_spec::runtime::Process) -> Vec<String> {
    crate::setup::attrs::dedup_env(p.env().as_deref().unwrap_or(&[]))
}

fn setup_terminal(cfg: &InitConfig, process: &oci_spec::runtime::Process) -> Result<()> {
    let sock = cfg
        .console
        .context("terminal is true but no console socket was given")?;
    terminal::attach(sock, terminal::console_size(process), true)
}

/// Loads the filter; a notify filter's fd goes to the parent, which hands it to the agent at
/// listenerPath (a host path, and the parent knows the init's host pid for the state).
fn load_seccomp(cfg: &InitConfig, chan: &Channel) -> Result<()> {
    let Some(p) = cfg.seccomp else { return Ok(()) };
    if let Some(fd) = crate::seccomp::load(p)? {
        chan.send_fd(Tag::SeccompFd, &fd)?;
        drop(fd);
        chan.expect(Tag::SeccompDone)?;
    }
    Ok(())
}

/// For `create`, blocks until `start` releases us and returns the exec fifo opened for
/// writing: the byte we write on it tells `start` we are going, and the fd, being
/// close-on-exec, closes exactly when the program is exec'd, which is when `start` may run
/// the poststart hooks. For `run`, returns at once (see StartSignal::SyncMessage).
fn wait_for_start(cfg: &InitConfig) -> Result<Option<std::fs::File>> {
    match cfg.start {
        StartSignal::SyncMessage => Ok(None),
        StartSignal::ExecFifo => {
            let fifo = cfg.fifo.context("no exec fifo")?;
            // Reopen through our O_PATH fd: the fifo lives in the state dir, outside the rootfs.
            let path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .context("opening exec fifo")?;
            Ok(Some(f))
        }
    }
}

fn wait_and_exec(cfg: &InitConfig, chan: &Channel, r: Ready) -> Result<std::convert::Infallible> {
    let fifo = wait_for_start(cfg)?;
    if let Some(h) = cfg
        .spec
        .hooks()
        .as_ref()
        .and_then(|h| h.start_container().as_ref())
    {
        // The program has not run yet: the container is still "created" (pid as seen inside).
        let state = crate::commands::hook_state(
            cfg.id,
            "created",
            std::process::id() as i32,
            cfg.bundle,
            cfg.spec,
        );
        let env = cfg
            .spec
            .process()
            .as_ref()
            .map(hook_env)
            .unwrap_or_default();
        let r = crate::hooks::run_all(
            "startContainer",
            h,
            &state,
            crate::hooks::DefaultEnv::Process(&env),
        );
        if let (Err(e), Some(mut f)) = (&r, fifo.as_ref()) {
            // `hull start` waits on the fifo: tell it why instead of the go-ahead byte.
            let _ = std::io::Write::write_all(&mut f, format!("E{e:#}").as_bytes());
        }
        r?;
    }
    if r.caps_after_seccomp {
        load_seccomp(cfg, chan)?;
    }
    let mut own = vec![chan.raw_fd()];
    if let Some(mut f) = fifo.as_ref() {
        std::io::Write::write_all(&mut f, b"0").context("writing exec fifo")?;
        own.push(f.as_raw_fd());
    }
    fds::prepare_for_exec(cfg.preserve_fds + cfg.listen_fds, &own);
    crate::setup::attrs::reset_signals();
    Err(exec::exec(&r.program))
}
