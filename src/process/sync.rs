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
    /// Either way: something failed; the payload says what.
    Error = b'e',
}

impl Tag {
    fn from_byte(b: u8) -> Option<Tag> {
        [
            Tag::MapsWritten,
            Tag::RunRuntimeHooks,
            Tag::HooksDone,
            Tag::Ready,
            Tag::Error,
        ]
        .into_iter()
        .find(|t| *t as u8 == b)
    }
}

pub struct Channel {
    fd: OwnedFd,
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
            },
            Channel {
                fd: OwnedFd::from_raw_fd(fds[1]),
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

    /// Receives one message; Ok(None) means the peer is gone.
    pub fn recv(&self) -> Result<Option<(Tag, Vec<u8>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                break n as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e).context("sync recv");
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let Some(tag) = Tag::from_byte(buf[0]) else {
            bail!("sync: unexpected message byte {}", buf[0])
        };
        buf.truncate(n);
        buf.remove(0);
        Ok(Some((tag, buf)))
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
