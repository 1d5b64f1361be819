//! The parent/child handshake during create, over a SOCK_SEQPACKET socketpair: every message is
//! one packet (a tag byte plus an optional UTF-8 payload), and the peer's death shows up as EOF,
//! so neither side can wait forever on a dead partner.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[repr(u8)]
pub enum Tag {
    /// Parent → child: uid/gid maps are written; the child may continue.
    MapsWritten = b'm',
    /// Child → parent: mounts are ready; run prestart and createRuntime hooks now.
    RunRuntimeHooks = b'h',
    /// Parent → child: hooks done.
    HooksDone = b'H',
    /// Child → parent: setup finished; the user program is about to be waited for / started.
    Ready = b'r',
    /// Child → parent: my network namespace exists; move linux.netDevices into it.
    MoveNetDevices = b'n',
    /// Parent → child: the devices are in.
    NetDevicesMoved = b'N',
    /// Child → parent: the seccomp notify fd comes with this message (SCM_RIGHTS); the
    /// parent hands it to the agent at listenerPath.
    SeccompFd = b'f',
    /// Parent → child: the agent has the fd.
    SeccompDone = b'F',
    /// Child → parent: a log line ("<level>\0<message>") for the parent to log.
    Log = b'l',
    /// Either way: something failed; the payload says what.
    Error = b'e',
    /// Child → parent (user namespace): open this bind source for me (see mount_source).
    MountSource = b'o',
    /// Parent → child: the opened source, as an SCM_RIGHTS fd.
    MountSourceFd = b'O',
    /// Child → parent (user namespace): set my process.rlimits (see launch::set_rlimits).
    SetRlimits = b't',
    /// Parent → child: they are set.
    RlimitsSet = b'T',
    /// Child → parent (exec, rootless systemd): I may not move myself into the container's
    /// cgroup (the payload); have systemd do it.
    JoinCgroupForMe = b'c',
    /// Parent → child: systemd moved me.
    CgroupJoined = b'C',
}

impl Tag {
    pub(crate) fn from_byte(b: u8) -> Option<Tag> {
        [
            Tag::MapsWritten,
            Tag::RunRuntimeHooks,
            Tag::HooksDone,
            Tag::Ready,
            Tag::MoveNetDevices,
            Tag::NetDevicesMoved,
            Tag::SeccompFd,
            Tag::SeccompDone,
            Tag::Log,
            Tag::Error,
            Tag::MountSource,
            Tag::MountSourceFd,
            Tag::SetRlimits,
            Tag::RlimitsSet,
            Tag::JoinCgroupForMe,
            Tag::CgroupJoined,
        ]
        .into_iter()
        .find(|t| *t as u8 == b)
    }
}

pub struct Channel {
    fd: OwnedFd,
    /// An fd that came with the last message (SCM_RIGHTS), until taken.
    received: std::cell::Cell<Option<OwnedFd>>,
}

/// A connected pair; both ends are close-on-exec so neither leaks into the container program.
pub fn pair() -> Result<(Channel, Channel)> {
    let mut fds = [0; 2];
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("socketpair");
    }
    Ok(unsafe {
        (
            Channel {
                fd: OwnedFd::from_raw_fd(fds[0]),
                received: Default::default(),
            },
            Channel {
                fd: OwnedFd::from_raw_fd(fds[1]),
                received: Default::default(),
            },
        )
    })
}

impl Channel {
    pub fn send(&self, tag: Tag, payload: &[u8]) -> Result<()> {
        let mut buf = Vec::with_capacity(1 + payload.len());
        buf.push(tag as u8);
        buf.extend_from_slice(payload);
        loop {
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e).context("sync send");
            }
        }
    }

    /// Receives one message; Ok(None) means the peer is gone. An fd sent with it is kept for
    /// [`Channel::take_fd`].
    pub fn recv(&self) -> Result<Option<(Tag, Vec<u8>)>> {
        // Not zeroed, and shrunk to the message below: no process keeps (or clears) 64 KiB per
        // message. On the heap, not the stack: the exec child receives after the config's
        // rlimits (RLIMIT_STACK) apply.
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.capacity(),
        };
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
        let mut cbuf = vec![0u64; space.div_ceil(8)];
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        let n = loop {
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
            if n >= 0 {
                break n as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e).context("sync recv");
            }
        };
        let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        if !c.is_null() && unsafe { (*c).cmsg_type } == libc::SCM_RIGHTS {
            let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32) };
            self.received.set(Some(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        if n == 0 {
            return Ok(None);
        }
        // SAFETY: recvmsg wrote the first n bytes (n <= the capacity).
        unsafe { buf.set_len(n) };
        let Some(tag) = Tag::from_byte(buf[0]) else {
            bail!("sync: unexpected message byte {}", buf[0])
        };
        buf.remove(0);
        // The newest block of hull's allocator shrinks in place and gives the rest back.
        buf.shrink_to_fit();
        Ok(Some((tag, buf)))
    }

    /// From now on this process's log lines go to the peer (see [`log_forwarded`]).
    pub fn forward_logs(&self) {
        let fd = self.fd.as_raw_fd();
        crate::logging::forward(Box::new(move |level, msg| {
            let mut buf = Vec::with_capacity(2 + level.len() + msg.len());
            buf.push(Tag::Log as u8);
            buf.extend_from_slice(level.as_bytes());
            buf.push(0);
            buf.extend_from_slice(msg.as_bytes());
            let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
            n == buf.len() as isize
        }));
    }

    /// The fd that came with the last message, if any.
    pub fn take_fd(&self) -> Option<OwnedFd> {
        self.received.take()
    }

    /// Sends `tag` with `fd` attached.
    pub fn send_fd(&self, tag: Tag, fd: &OwnedFd) -> Result<()> {
        let t = char::from(tag as u8).to_string();
        crate::setup::terminal::send_fd(self.fd.as_raw_fd(), fd.as_raw_fd(), &t)
            .with_context(|| format!("sync send {tag:?} with an fd"))
    }

    /// Waits for `want`; an Error message or EOF becomes an error.
    pub fn expect(&self, want: Tag) -> Result<()> {
        match self.recv()? {
            Some((t, _)) if t == want => Ok(()),
            Some((Tag::Error, msg)) => bail!("{}", String::from_utf8_lossy(&msg)),
            Some((t, _)) => bail!("sync: expected {want:?}, got {t:?}"),
            None => bail!("sync: peer exited while waiting for {want:?}"),
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Logs a line a child sent with Tag::Log.
pub fn log_forwarded(payload: &[u8]) {
    let text = String::from_utf8_lossy(payload);
    let (level, msg) = text.split_once('\0').unwrap_or(("warning", &text));
    crate::logging::log_forwarded(level, msg);
}
