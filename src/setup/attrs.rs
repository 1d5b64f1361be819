//! Process attributes: the OOM score (set first, see `apply_oom_score_adj`), and, just before
//! the user switch, the session keyring and the final environment and signal state.

use anyhow::{Context, Result};
use oci_spec::runtime::Process;
use std::path::Path;

/// process.oomScoreAdj of process `pid` (None: ourselves), written from the host's user
/// namespace as runc does: by the init before it joins a user namespace, or by the parent for
/// an init cloned into a new one. Inside a user namespace the write fails twice over: the
/// non-dumpable init's /proc/self files belong to the host's root (EACCES for the namespace's
/// root, seen with `hostUsers: false` pods), and a value below oom_score_adj_min needs
/// CAP_SYS_RESOURCE in the host's user namespace.
pub fn apply_oom_score_adj(pid: Option<i32>, p: &Process) -> Result<()> {
    if let Some(adj) = p.oom_score_adj() {
        let file = match pid {
            Some(pid) => format!("/proc/{pid}/oom_score_adj"),
            None => "/proc/self/oom_score_adj".to_string(),
        };
        crate::util::fs::write_value(Path::new(&file), &adj.to_string())?;
    }
    Ok(())
}

pub fn apply_process_attrs(id: &str, no_new_keyring: bool) -> Result<()> {
    if !no_new_keyring {
        join_session_keyring(id)?;
    }
    Ok(())
}

/// A fresh session keyring per container, so containers never share the host's or each
/// other's keys (runc names it `_ses.<id>`).
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}"))?;
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        // Kernels without keyrings (ENOSYS) or quota/permission limits in nested user namespaces:
        // runc ignores these too.
        if !matches!(
            e.raw_os_error(),
            Some(libc::ENOSYS) | Some(libc::EACCES) | Some(libc::EDQUOT) | Some(libc::EPERM)
        ) {
            return Err(e).context("joining a new session keyring");
        }
    }
    Ok(())
}

/// HOME from /etc/passwd of the container (as runc does when the spec doesn't set it).
fn home_for(uid: u32) -> String {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else {
        return "/".into();
    };
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse() == Ok(uid) {
            return f[5].to_string();
        }
    }
    "/".into()
}

/// The program's environment: the spec's with duplicates removed (the last occurrence wins,
/// as runc's prepareEnv), HOME from the user's passwd entry when
/// missing or empty, plus socket-activation vars.
pub fn environment(p: &Process, listen_fds: u32) -> Vec<String> {
    let mut env = dedup_env(p.env().as_deref().unwrap_or(&[]));
    let home_set = env
        .iter()
        .any(|e| e.strip_prefix("HOME=").is_some_and(|v| !v.is_empty()));
    if !home_set {
        env.retain(|e| !e.starts_with("HOME="));
        env.push(format!("HOME={}", home_for(p.user().uid())));
    }
    if listen_fds > 0 {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={listen_fds}"));
        env.push("LISTEN_PID=1".into());
    }
    env
}

/// Each variable once, with its last value: `exec --env K=V` appends to the spec's env and
/// must override K there.
pub fn dedup_env(env: &[String]) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let mut seen = std::collections::HashSet::with_capacity(env.len());
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env.iter().rev() {
        if seen.insert(key(e)) {
            out.push(e.clone());
        }
    }
    out.reverse();
    out
}

/// execve keeps ignored signals ignored and the signal mask as is; the program must start
/// with defaults (Rust's runtime ignores SIGPIPE, and `run` blocks signals to forward them).
pub fn reset_signals() {
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_is_deduplicated_last_wins() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            super::dedup_env(&v(&["A=1", "B=2", "A=3", "C="])),
            v(&["B=2", "A=3", "C="])
        );
    }
}
