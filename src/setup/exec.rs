//! The last step: find the program (in the container's PATH, like Go's exec.LookPath that
//! runc uses, so error messages match) and execve it.

use anyhow::{anyhow, bail, Result};
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Resolves args[0] using PATH from the process environment.
pub fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        // runc's words, which callers match: a file without any x bit is "permission
        // denied", a missing one Go's stat error.
        return match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => bail!("exec: {arg0:?}: is a directory"),
            Ok(_) if is_executable(&p) => Ok(p),
            Ok(_) => bail!("exec: {arg0:?}: permission denied"),
            Err(e) => Err(anyhow!(
                "exec: {arg0:?}: stat {arg0}: {}",
                crate::util::errno_text(&e)
            )),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        if is_executable(&cand) {
            return Ok(cand);
        }
    }
    bail!("exec: {arg0:?}: executable file not found in $PATH")
}

pub struct Prepared {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

pub fn prepare(path: &Path, args: &[String], env: &[String]) -> Result<Prepared> {
    let c = |s: &str| {
        CString::new(s)
            .map_err(|_| anyhow!("argument or environment entry {s:?} contains a NUL byte"))
    };
    Ok(Prepared {
        path: c(&path.to_string_lossy())?,
        argv: args.iter().map(|a| c(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|e| c(e)).collect::<Result<_>>()?,
    })
}

/// execve; returns only on failure.
pub fn exec(p: &Prepared) -> anyhow::Error {
    let mut argv: Vec<*const libc::c_char> = p.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = p.envp.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    unsafe { libc::execve(p.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = std::io::Error::last_os_error();
    // runc's words (an os.PathError with op "exec"): `exec /run.sh: no such file or directory`
    anyhow!(
        "exec {}: {}",
        p.path.to_string_lossy(),
        crate::util::errno_text(&e)
    )
}
