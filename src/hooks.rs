//! OCI hooks: each runs with the container state on stdin, its own args and env, and an
//! optional timeout after which it is killed. A hook failing fails the lifecycle step, except
//! poststart and poststop whose failures are only logged (and the remaining hooks still run),
//! as the spec requires. Errors carry runc's words, which callers match:
//! `error running <kind> hook #<n>: exit status 3, stdout: ..., stderr: ...` (runc 1.3.6).

use anyhow::{anyhow, bail, Result};
use oci_spec::runtime::Hook;
use std::io::{Read, Seek, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The environment of a hook whose `env` is absent.
#[derive(Clone, Copy)]
pub enum DefaultEnv<'a> {
    /// The runtime's own (runc: Go's exec.Cmd with a nil Env).
    Inherit,
    /// Hooks run by the container init (createContainer, startContainer) see the container
    /// process's environment, as runc's init replaces its own with it first.
    Process(&'a [String]),
}

/// Runs `hooks` in order; the first failure stops and fails the step.
pub fn run_all(kind: &str, hooks: &[Hook], state_json: &[u8], env: DefaultEnv) -> Result<()> {
    run_hooks(kind, hooks, state_json, env, None)
}

/// Like [`run_all`], with `dir` as the hooks' working directory. runc's `create` and `run`
/// chdir to the bundle before anything else, so its prestart and createRuntime hooks start
/// there, and hooks written for it may use bundle-relative paths (`rootfs/lib/...`).
pub fn run_all_in(
    kind: &str,
    hooks: &[Hook],
    state_json: &[u8],
    env: DefaultEnv,
    dir: &Path,
) -> Result<()> {
    run_hooks(kind, hooks, state_json, env, Some(dir))
}

fn run_hooks(
    kind: &str,
    hooks: &[Hook],
    state_json: &[u8],
    env: DefaultEnv,
    dir: Option<&Path>,
) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state_json, env, dir)
            .map_err(|e| anyhow!("error running {kind} hook #{i}: {e:#}"))?;
    }
    Ok(())
}

/// Runs hooks whose failure must not stop the lifecycle (poststart, poststop): each failure is
/// a warning, and the remaining hooks still run. `dir`: their working directory (None: ours).
/// runc runs poststart hooks in its `create` or `run` process, which chdirs to the bundle
/// first, and poststop hooks in whichever process destroys the container (`run`: the bundle;
/// `delete`: the caller's directory).
pub fn run_all_logged(kind: &str, hooks: &[Hook], state_json: &[u8], dir: Option<&Path>) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state_json, DefaultEnv::Inherit, dir) {
            crate::logging::warn(&format!("error running {kind} hook #{i}: {e:#}"));
        }
    }
}

/// An anonymous file for a hook's stdout or stderr: unlike a pipe it never fills up, and a
/// daemon the hook leaves behind holding it cannot make us wait.
fn capture_file(name: &std::ffi::CStr) -> Result<std::fs::File> {
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn captured(mut f: std::fs::File) -> String {
    let mut s = String::new();
    let _ = f.rewind();
    let _ = Read::by_ref(&mut f).take(64 * 1024).read_to_string(&mut s);
    s
}

/// Go's ExitError text, which runc prints: "exit status 3", "signal: killed".
fn status_text(st: ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => {
            // strsignal's text, lowercased as Go's ("killed", "terminated")
            let p = unsafe { libc::strsignal(sig) };
            let name = if p.is_null() {
                format!("signal {sig}")
            } else {
                unsafe { std::ffi::CStr::from_ptr(p) }
                    .to_string_lossy()
                    .to_lowercase()
            };
            format!("signal: {name}")
        }
        _ => st.to_string(),
    }
}

fn run_one(h: &Hook, state_json: &[u8], default_env: DefaultEnv, dir: Option<&Path>) -> Result<()> {
    let path = h.path();
    let mut cmd = Command::new(path);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    // argv exactly as given: args[0] is argv[0] (not necessarily the path).
    if let Some(args) = h.args().as_ref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    let env = match (h.env(), default_env) {
        (Some(env), _) => Some(env.as_slice()),
        (None, DefaultEnv::Process(env)) => Some(env),
        (None, DefaultEnv::Inherit) => None,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    let (out, err) = (capture_file(c"hook-stdout")?, capture_file(c"hook-stderr")?);
    cmd.stdin(Stdio::piped())
        .stdout(out.try_clone()?)
        .stderr(err.try_clone()?);
    let mut child = cmd.spawn().map_err(|e| {
        anyhow!(
            "fork/exec {}: {}",
            path.display(),
            crate::util::errno_text(&e)
        )
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin must not make us fail (EPIPE is fine).
        let _ = stdin.write_all(state_json);
    }
    let timeout = h.timeout().filter(|t| *t > 0);
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs(t as u64));
    // Wait on a pidfd rather than polling: wakes exactly when the hook exits.
    let pidfd = crate::util::proc::pidfd_open(child.id() as i32).ok();
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!(
                "{}, stdout: {}, stderr: {}",
                status_text(status),
                captured(out),
                captured(err)
            );
        }
        let left_ms = match deadline {
            Some(d) if Instant::now() >= d => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "hook ran past specified timeout of {:.1}s",
                    timeout.unwrap_or(0) as f64
                );
            }
            // At least 1 ms so a deadline a fraction of a millisecond away is not a busy loop.
            Some(d) => ((d - Instant::now()).as_millis().min(i32::MAX as u128) as i32).max(1),
            None => -1,
        };
        match &pidfd {
            Some(fd) => {
                crate::util::proc::pidfd_wait_exit(fd, left_ms);
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}
