//! The receiving end of the unix sockets a runtime sends fds to (`--console-socket`,
//! `--pidfd-socket`, a seccomp agent's `listenerPath`): accepting the runtime's connection
//! within a timeout and receiving one message with the fd passed in it (SCM_RIGHTS).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Accepts one connection on `l` within `timeout` (polling it non-blocking, so a runtime that
/// never connects fails the test instead of hanging it); the stream returned blocks. The error
/// is `WouldBlock` when no connection came in time, else the one `accept` gave.
pub fn accept_within(l: &UnixListener, timeout: Duration) -> std::io::Result<UnixStream> {
    l.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Receives one message (up to 64 KiB) on `s` and the fd sent with it as an SCM_RIGHTS
/// control message, if there is one; the fd is received close-on-exec.
pub fn recv_with_fd(s: &UnixStream) -> (Vec<u8>, Option<OwnedFd>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: a zeroed msghdr is a valid initial value; it points to live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: msg points to the live buffers above.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    buf.truncate(n as usize);
    // SAFETY: walking the control buffer the kernel filled.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_level != libc::SOL_SOCKET || (*c).cmsg_type != libc::SCM_RIGHTS
        {
            None
        } else {
            let fd: RawFd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd);
            assert!(fd >= 0, "SCM_RIGHTS carried fd {fd}");
            Some(OwnedFd::from_raw_fd(fd))
        }
    };
    (buf, fd)
}
