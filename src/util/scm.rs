//! One file descriptor passed over a unix socket with SCM_RIGHTS, beside a payload: the pty
//! master on the console socket, a pidfd, a mount source handed to the init.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

fn fd_space() -> usize {
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize }
}

/// A control buffer of `space` bytes aligned for cmsghdr: a Vec<u8> is not promised to be
/// (hull's allocator happens to align every block to 16, as malloc does).
fn control_buffer(space: usize) -> Vec<u64> {
    vec![0u64; space.div_ceil(8)]
}

/// Sends `payload` with `fd` attached.
pub fn send(sock: RawFd, fd: RawFd, payload: &[u8]) -> std::io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut _,
        iov_len: payload.len(),
    };
    let space = fd_space();
    let mut cbuf = control_buffer(space);
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer has room for one header and one fd (CMSG_SPACE).
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
    }
    if unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one message into `buf`: its length (0 at EOF) and the fd it carried, if any,
/// close-on-exec (so it cannot leak into a program exec'd before it is closed).
pub fn recv(sock: RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let space = fd_space();
    let mut cbuf = control_buffer(space);
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    // SAFETY: CMSG_FIRSTHDR checks the length the kernel wrote; the header is only read
    // for an SCM_RIGHTS message long enough to hold one fd.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        let one = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        (!c.is_null()
            && (*c).cmsg_level == libc::SOL_SOCKET
            && (*c).cmsg_type == libc::SCM_RIGHTS
            && (*c).cmsg_len as usize >= one)
            .then(|| {
                OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd))
            })
    };
    Ok((n, fd))
}
