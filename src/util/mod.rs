//! Small helpers shared by several modules.
pub mod alloc;
pub mod fs;
#[cfg(test)]
pub mod fuzz;
pub mod mountinfo;
pub mod netlink;
pub mod panic;
pub mod path;
pub mod proc;
pub mod scm;
pub mod stdout;
pub mod time;

/// An io::Error's text without Rust's " (os error N)" suffix, as Go prints syscall errors.
pub fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

/// Connects to a caller-supplied unix socket (console or pidfd socket) in the host's
/// namespaces; `what` names it in the error.
pub fn connect_unix(path: &str, what: &str) -> anyhow::Result<std::os::fd::OwnedFd> {
    use anyhow::Context;
    let s = std::os::unix::net::UnixStream::connect(path)
        .with_context(|| format!("connecting to {what} {path}"))?;
    Ok(std::os::fd::OwnedFd::from(s))
}

/// A connected pair of stream unix sockets (close-on-exec), e.g. to pass a terminal master
/// from the container's init back to a foreground `run` or `exec`.
pub fn socketpair() -> anyhow::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use anyhow::Context;
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error()).context("socketpair");
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
