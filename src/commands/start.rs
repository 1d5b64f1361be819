//! `hull start`: release a created container's init to exec the user program.

use super::Globals;
use crate::cli::args::{parse, Trailing};
use crate::state::{Status, EXEC_FIFO};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, &[], Trailing::Interleaved)?;
    let id = super::create::single_id("start", &p)?;
    crate::state::id::validate(id)?;
    let st = g.store.load(id)?;
    match st.status(&g.store) {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Running => bail!("cannot start an already running container"),
        s => bail!("cannot start a container in the {} state", s.as_str()),
    }
    // Pin the init before touching the fifo: once the fifo is opened the program may exec,
    // exit and be reaped at once, and its pid would be gone.
    let pidfd = crate::util::proc::pidfd_open(st.pid)
        .map_err(|_| anyhow::anyhow!("cannot start a container that has stopped"))?;
    let fifo_path = g.store.dir(id).join(EXEC_FIFO);
    // Non-blocking open succeeds at once; then wait for the init's byte or its death, so a
    // dead init can never hang us.
    let mut fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo_path)
        .context("opening exec fifo")?;
    crate::steps::mark("load state, open exec fifo");
    let mut fds = [
        libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        break;
    }
    // One byte "0" is the go-ahead; "E<message>" is a failure of the init after it saw us
    // (a startContainer hook), written in one go before it exits.
    let mut buf = [0u8; 4096];
    let n = if fds[0].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
        fifo.read(&mut buf).unwrap_or(0)
    } else {
        0
    };
    match &buf[..n] {
        [] => bail!("container init exited before it could be started"),
        [b'E', msg @ ..] => {
            let _ = std::fs::remove_file(&fifo_path);
            bail!("{}", String::from_utf8_lossy(msg))
        }
        _ => {}
    }
    crate::steps::mark_with("wait for init", &|| format!("init pid {} released", st.pid));
    let _ = std::fs::remove_file(&fifo_path);
    // The init's end of the fifo is close-on-exec: EOF means the program has been exec'd
    // (or the init died trying), and only then may poststart hooks run.
    if st.hooks.as_ref().is_some_and(|h| h.poststart().is_some()) {
        wait_for_eof(&mut fifo);
    }
    if let Some(h) = st.hooks.as_ref().and_then(|h| h.poststart().as_ref()) {
        let s = super::container::hook_state_from(&st, "running");
        crate::hooks::run_all_logged("poststart", h, &s, Some(&st.bundle));
    }
    Ok(0)
}

fn wait_for_eof(fifo: &mut std::fs::File) {
    let mut buf = [0u8; 64];
    loop {
        let mut p = libc::pollfd {
            fd: fifo.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut p, 1, -1) } < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return;
        }
        match fifo.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                continue
            }
            Err(_) => return,
        }
    }
}
