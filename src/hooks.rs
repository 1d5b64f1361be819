//! OCI hooks: each runs with the container state on stdin, its own args and env, and an
//! optional timeout after which it is killed. A hook failing fails the lifecycle step, except
//! poststart and poststop whose failures are only logged, as the spec requires.

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run_all(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for h in hooks {
        run_one(h, state_json).with_context(|| format!("{kind} hook {}", h.path().display()))?;
    }
    Ok(())
}

/// Runs hooks whose failure must not stop the lifecycle (poststart, poststop): log and go on.
pub fn run_all_logged(kind: &str, hooks: &[Hook], state_json: &[u8]) {
    if let Err(e) = run_all(kind, hooks, state_json) {
        crate::logging::warn(&format!("{e:#}"));
    }
}

fn run_one(h: &Hook, state_json: &[u8]) -> Result<()> {
    let path = h.path();
    let mut cmd = Command::new(path);
    if let Some(args) = h.args().as_ref().filter(|a| !a.is_empty()) {
        cmd.arg0(&args[0]).args(&args[1..]);
    }
    cmd.env_clear();
    for e in h.env().iter().flatten() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|e| anyhow!("starting: {}", crate::util::errno_text(&e)))?;
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
            bail!("failed: {status}");
        }
        let left_ms = match deadline {
            Some(d) if Instant::now() >= d => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("timed out after {}s", timeout.unwrap_or(0));
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
