//! The process-identity steps shared by the container init and `exec`: no_new_privs,
//! seccomp (early or late, see below), capabilities, user switch, cwd, environment and the
//! program lookup. What's returned is ready to execve.

use super::{caps, exec, user};
use anyhow::{Context, Result};
use oci_spec::runtime::Process;

pub struct Finalized {
    pub program: exec::Prepared,
    /// With no_new_privileges the seccomp filter is loaded last, right before execve.
    pub seccomp_pending: bool,
    /// runc's "can't raise ambient capability X: ..." lines, for the caller to log.
    pub ambient_warnings: Vec<String>,
}

/// `seccomp_early`: load the filter before the user switch even with no_new_privileges (a
/// notify filter: its fd must reach the agent while the parent is still there).
pub fn finalize(
    p: &Process,
    load_seccomp: &dyn Fn() -> Result<()>,
    seccomp_early: bool,
    userns: bool,
    listen_fds: u32,
) -> Result<Finalized> {
    let nnp = p.no_new_privileges().unwrap_or(false);
    if nnp && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("PR_SET_NO_NEW_PRIVS");
    }
    // Without no_new_privileges, loading a filter needs CAP_SYS_ADMIN, which the user switch
    // below may drop: load it now. With NNP, load it as late as possible so fewer of our own
    // syscalls need allowing by the profile.
    let late = nnp && !seccomp_early;
    if !late {
        load_seccomp()?;
        crate::steps::mark("seccomp");
    }
    let masks = p
        .capabilities()
        .as_ref()
        .map(caps::masks)
        .unwrap_or_default();
    caps::drop_bounding(masks.bounding)?;
    let cwd_ok = std::env::set_current_dir(p.cwd()).is_ok();
    let setgroups = !userns
        || std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() != "deny")
            .unwrap_or(true);
    crate::steps::mark("drop bounding caps, cwd");
    user::give_stdio_to(p.user().uid())?;
    user::switch(p.user(), &[], setgroups)?;
    crate::steps::mark("switch user");
    if !cwd_ok {
        // The cwd may only be reachable as the target user (e.g. a 0700 home on NFS).
        std::env::set_current_dir(p.cwd())
            .with_context(|| format!("chdir to cwd {:?}", p.cwd()))?;
    }
    let ambient_warnings = caps::apply(&masks)?;
    crate::steps::mark("capabilities");
    let env = super::attrs::environment(p, listen_fds);
    let args = p.args().clone().unwrap_or_default();
    let first = args.first().context("process.args must not be empty")?;
    let path = exec::lookup(first, &env)?;
    let program = exec::prepare(&path, &args, &env)?;
    crate::steps::mark_with("find program", &|| {
        let u = p.user();
        format!(
            "will exec {} {args:?} as {}:{} in {}{}",
            path.display(),
            u.uid(),
            u.gid(),
            p.cwd().display(),
            if nnp {
                ", seccomp after no_new_privs"
            } else {
                ""
            }
        )
    });
    Ok(Finalized {
        program,
        seccomp_pending: late,
        ambient_warnings,
    })
}
