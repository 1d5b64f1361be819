//! Terminals: a pty created inside the container (on its devpts), its master handed to the
//! caller over `--console-socket` with SCM_RIGHTS (runc's protocol, which containerd and
//! conmon speak), and the slave made the process's controlling terminal and /dev/console.

use super::mount_syscalls::sys_mount;
use anyhow::{Context, Result};
use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: String,
}

/// Opens a new pty pair from /dev/ptmx (inside the container once pivoted).
pub fn open_pty() -> Result<Pty> {
    let m = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if m < 0 {
        return Err(std::io::Error::last_os_error()).context("open /dev/ptmx");
    }
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    if unsafe { libc::unlockpt(m) } != 0 {
        return Err(std::io::Error::last_os_error()).context("unlockpt");
    }
    let mut buf = [0 as libc::c_char; 128];
    if unsafe { libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()) } != 0 {
        return Err(std::io::Error::last_os_error()).context("ptsname");
    }
    let slave_path = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    let s = unsafe {
        libc::open(
            buf.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("open {slave_path}"));
    }
    Ok(Pty {
        master,
        slave: unsafe { OwnedFd::from_raw_fd(s) },
        slave_path,
    })
}

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Sends `fd` over a connected unix socket with SCM_RIGHTS, with `name` as the payload.
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> Result<()> {
    crate::util::scm::send(sock, fd, name.as_bytes())
        .context("sending the pty master over the console socket")
}

/// Receives one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: RawFd) -> Result<OwnedFd> {
    let mut data = [0u8; 4096];
    match crate::util::scm::recv(sock, &mut data).context("recvmsg")? {
        (_, Some(fd)) => Ok(fd),
        (_, None) => anyhow::bail!("no file descriptor received"),
    }
}

/// Connects to the caller's console socket (done by the parent, in the host's namespaces).
pub fn connect_console_socket(path: &str) -> Result<OwnedFd> {
    crate::util::connect_unix(path, "console socket")
}

/// Makes the pty slave the session's controlling terminal and the process's stdio.
pub fn make_controlling(slave: &OwnedFd) -> Result<()> {
    unsafe { libc::setsid() };
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("TIOCSCTTY");
    }
    for target in 0..3 {
        if unsafe { libc::dup3(slave.as_raw_fd(), target, 0) } < 0 {
            return Err(std::io::Error::last_os_error()).context("dup pty to stdio");
        }
    }
    Ok(())
}

/// Bind-mounts the pty slave over /dev/console, as the spec requires when terminal is true.
pub fn mount_console(slave_path: &str) -> Result<()> {
    match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/dev/console")
    {
        Ok(_) => {}
        Err(e) => return Err(e).context("creating /dev/console"),
    }
    sys_mount(Some(slave_path), "/dev/console", None, libc::MS_BIND, None)
        .context("bind-mounting the pty over /dev/console")
}

/// Gives the process a new pty on the container's devpts: the master goes to the caller over
/// the console socket, the slave becomes the controlling terminal and stdio (and, for the
/// init, /dev/console).
pub fn attach(sock: &OwnedFd, size: Option<(u16, u16)>, mount_dev_console: bool) -> Result<()> {
    let pty = open_pty()?;
    if let Some((rows, cols)) = size {
        set_size(pty.master.as_raw_fd(), rows, cols);
    }
    if mount_dev_console {
        mount_console(&pty.slave_path)?;
    }
    send_fd(sock.as_raw_fd(), pty.master.as_raw_fd(), "/dev/ptmx")?;
    drop(pty.master);
    make_controlling(&pty.slave)
}

/// process.consoleSize as (rows, cols).
pub fn console_size(p: &oci_spec::runtime::Process) -> Option<(u16, u16)> {
    p.console_size()
        .as_ref()
        .map(|b| (b.height() as u16, b.width() as u16))
}
