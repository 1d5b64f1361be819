//! `hull run`: create and start in one go. In the foreground hull stays the init's parent:
//! it forwards signals, proxies the terminal when the container has one and no console
//! socket was given, reaps orphans as a subreaper, returns the program's exit status and
//! deletes the container (unless --keep).

use super::container::{self, Created};
use super::Globals;
use crate::cli::args::{flag, parse, FlagSpec, Kind, Trailing};
use crate::process::init::StartSignal;
use crate::process::sync::Tag;
use anyhow::{Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub const FLAGS: &[FlagSpec] = &[
    flag(&["bundle", "b"], Kind::Value),
    flag(&["console-socket"], Kind::Value),
    flag(&["pidfd-socket"], Kind::Value),
    flag(&["pid-file"], Kind::Value),
    flag(&["no-pivot"], Kind::Bool),
    flag(&["no-new-keyring"], Kind::Bool),
    flag(&["preserve-fds"], Kind::Value),
    flag(&["detach", "d"], Kind::Bool),
    flag(&["keep"], Kind::Bool),
    flag(&["no-subreaper"], Kind::Bool),
];

pub fn run(g: &Globals, args: &[String]) -> Result<i32> {
    let p = parse(args, FLAGS, Trailing::Interleaved)?;
    let id = super::create::single_id("run", &p)?;
    let detach = p.bool("detach");
    let mut o = super::create::options(&p, id, StartSignal::SyncMessage)?;
    // In the foreground with no console socket, hull itself is the terminal's other end.
    o.proxy_terminal = !detach;
    let signals = if detach {
        None
    } else {
        Some(SignalFd::block_all()?)
    };
    if !detach && !p.bool("no-subreaper") {
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    // The init goes on to exec as soon as it is Ready (no Start message to wait for).
    let created = container::create(g, &o)?;
    // The init's end of the channel is close-on-exec: EOF means the program runs now; an
    // Error means startContainer hooks or the exec failed. Until then the init may still
    // forward log lines (warnings of its last steps).
    loop {
        match created.launched.chan.recv()? {
            None => break,
            Some((Tag::Log, line)) => crate::process::sync::log_forwarded(&line),
            Some((Tag::Error, msg)) => {
                let status = crate::process::launch::reap(created.launched.pid);
                let _ = container::destroy_in(g, &created.state, Some(&created.state.bundle));
                anyhow::bail!("{} ({status})", String::from_utf8_lossy(&msg));
            }
            Some((t, _)) => anyhow::bail!("sync: unexpected {t:?} from the container init"),
        }
    }
    crate::steps::mark("wait for execve");
    if let Some(h) = created
        .state
        .hooks
        .as_ref()
        .and_then(|h| h.poststart().as_ref())
    {
        crate::hooks::run_all_logged(
            "poststart",
            h,
            &container::hook_state_from(&created.state, "running"),
            Some(&created.state.bundle),
        );
    }
    if detach {
        return Ok(0);
    }
    let master = match &created.console_receiver {
        Some(ours) => Some(
            crate::setup::terminal::recv_fd(ours.as_raw_fd())
                .context("receiving the container's terminal")?,
        ),
        None => None,
    };
    let code = supervise(
        &created,
        signals.as_ref().expect("foreground has signals"),
        master.as_ref(),
    )?;
    crate::steps::mark_with("wait for exit", &|| format!("exit code {code}"));
    if !p.bool("keep") {
        container::destroy_in(g, &created.state, Some(&created.state.bundle))?;
        crate::steps::mark("remove state");
    }
    Ok(code)
}

/// All signals blocked and delivered through one fd, so the supervision loop can poll
/// signals and terminal I/O together.
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    pub fn block_all() -> Result<SignalFd> {
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut set);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error()).context("signalfd");
            }
            Ok(SignalFd {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    fn read(&self) -> Option<i32> {
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        (n as usize == std::mem::size_of::<libc::signalfd_siginfo>())
            .then_some(info.ssi_signo as i32)
    }
}

/// Reaps every exited child; returns the init's wait status once it has exited.
fn reap_children(init: i32) -> Option<i32> {
    let mut init_status = None;
    loop {
        let mut status = 0;
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return init_status;
        }
        if pid == init {
            init_status = Some(status);
        }
    }
}

pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// Puts our terminal in raw mode while proxying, restoring it on drop.
struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawMode { saved: None };
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawMode { saved: Some(saved) }
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}

fn copy_once(from: i32, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return false;
    }
    let mut off = 0;
    while off < n as usize {
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w <= 0 {
            return false;
        }
        off += w as usize;
    }
    true
}

fn resize_from_host(master: &OwnedFd) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) } == 0 {
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

/// Waits for the init to exit, forwarding signals and terminal I/O. Returns the exit code.
pub fn supervise(c: &Created, sigs: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    supervise_pid(c.launched.pid, &c.launched.pidfd, sigs, master)
}

pub fn supervise_pid(
    pid: i32,
    pidfd: &OwnedFd,
    sigs: &SignalFd,
    master: Option<&OwnedFd>,
) -> Result<i32> {
    let _raw = master.map(|m| {
        resize_from_host(m);
        RawMode::enter()
    });
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    loop {
        let mut fds = vec![libc::pollfd {
            fd: sigs.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(m) = master {
            fds.push(libc::pollfd {
                fd: if master_open { m.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            });
            fds.push(libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            continue;
        }
        if let (Some(m), true) = (master, fds.len() == 3) {
            if fds[1].revents != 0 && !copy_once(m.as_raw_fd(), 1) {
                master_open = false;
            }
            if fds[2].revents != 0 && !copy_once(0, m.as_raw_fd()) {
                stdin_open = false;
            }
        }
        if fds[0].revents & libc::POLLIN == 0 {
            continue;
        }
        match sigs.read() {
            Some(libc::SIGCHLD) => {
                if let Some(status) = reap_children(pid) {
                    // Drain what the program wrote last before returning.
                    if let (Some(m), true) = (master, master_open) {
                        unsafe { libc::fcntl(m.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
                        while copy_once(m.as_raw_fd(), 1) {}
                    }
                    return Ok(exit_code(status));
                }
            }
            Some(libc::SIGWINCH) => {
                if let Some(m) = master {
                    resize_from_host(m);
                }
            }
            Some(sig) => {
                let _ = crate::util::proc::pidfd_send_signal(pidfd, sig);
            }
            None => {}
        }
    }
}
