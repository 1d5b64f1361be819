//! Talking to CRIU the way runc does: `criu swrk 3` with one end of a SOCK_SEQPACKET
//! socketpair as fd 3, one protobuf message (rust-criu's generated rpc types) per packet.
//! CRIU answers with NOTIFY messages (which we acknowledge) until the final response.

use anyhow::{anyhow, bail, Context, Result};
use protobuf::Message;
use rust_criu::rust_criu_protobuf::rpc;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The fd number of CRIU's end of the socket; extra fds follow from 4 on (as in runc).
pub const SERVER_FD: RawFd = 3;
pub const FIRST_EXTRA_FD: RawFd = 4;

/// A notification from CRIU while it works: the script name ("post-restore", ...), the pid it
/// concerns, and an fd when CRIU sent one ("orphan-pts-master").
pub struct Notify {
    pub script: String,
    pub pid: i32,
    pub fd: Option<OwnedFd>,
}

/// How CRIU's own stdio is connected.
pub enum CriuStdio {
    /// stdin and stdout /dev/null, stderr captured for error messages: dump, pre-dump,
    /// version, feature check.
    Null,
    /// Ours: on restore the container's pipes are replaced by these (inherit_fd).
    Inherit,
}

/// A running `criu swrk`.
pub struct Swrk {
    child: Child,
    sock: OwnedFd,
}

fn dup_high(fd: RawFd) -> Result<OwnedFd> {
    // Above every target number, so the dup2s in the child cannot clobber a source.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100) };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).context("duplicating an fd for criu");
    }
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

fn seqpacket_pair() -> Result<(OwnedFd, OwnedFd)> {
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
        return Err(std::io::Error::last_os_error()).context("socketpair for criu");
    }
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Swrk {
    /// Starts `criu swrk 3`; `extra` become fds 4, 5, ... in CRIU.
    pub fn spawn(criu: &Path, extra: &[RawFd], stdio: CriuStdio) -> Result<Swrk> {
        let (ours, theirs) = seqpacket_pair()?;
        let mut sources = vec![dup_high(theirs.as_raw_fd())?];
        for &fd in extra {
            sources.push(dup_high(fd)?);
        }
        drop(theirs);
        let raw: Vec<RawFd> = sources.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = Command::new(criu);
        cmd.arg("swrk").arg(SERVER_FD.to_string());
        if let CriuStdio::Null = stdio {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
        }
        // SAFETY: only dup2 (async-signal-safe) between fork and exec; dup2 clears CLOEXEC.
        unsafe {
            cmd.pre_exec(move || {
                for (i, &fd) in raw.iter().enumerate() {
                    if libc::dup2(fd, SERVER_FD + i as RawFd) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| spawn_error(criu, e))?;
        Ok(Swrk { child, sock: ours })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `req` and answers notifications with `on_notify` until CRIU's final response.
    pub fn call(
        &mut self,
        req: &rpc::Criu_req,
        on_notify: &mut dyn FnMut(Notify) -> Result<()>,
    ) -> Result<rpc::Criu_resp> {
        let want = req.type_();
        self.send(req)?;
        loop {
            let (data, fd) = self.recv()?;
            let resp =
                rpc::Criu_resp::parse_from_bytes(&data).context("decoding criu's response")?;
            if !resp.success() {
                bail!(
                    "criu failed: type {:?} errno {}",
                    resp.type_(),
                    resp.cr_errno()
                );
            }
            if resp.type_() != rpc::Criu_req_type::NOTIFY {
                if resp.type_() != want {
                    bail!("unexpected criu response {:?} to {want:?}", resp.type_());
                }
                return Ok(resp);
            }
            let n = Notify {
                script: resp.notify.script().to_string(),
                pid: resp.notify.pid(),
                fd,
            };
            crate::logging::debug(&format!("criu notify: {} (pid {})", n.script, n.pid));
            let outcome = on_notify(n);
            let mut ack = rpc::Criu_req::new();
            ack.set_type(rpc::Criu_req_type::NOTIFY);
            ack.set_notify_success(outcome.is_ok());
            self.send(&ack)?;
            outcome?;
        }
    }

    fn send(&self, req: &rpc::Criu_req) -> Result<()> {
        let data = req.write_to_bytes().context("encoding the criu request")?;
        let n = unsafe {
            libc::send(
                self.sock.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 || n as usize != data.len() {
            return Err(std::io::Error::last_os_error()).context("sending to criu");
        }
        Ok(())
    }

    /// One packet, and the fd it carried if any.
    fn recv(&self) -> Result<(Vec<u8>, Option<OwnedFd>)> {
        let fd = self.sock.as_raw_fd();
        let len = unsafe {
            libc::recv(
                fd,
                std::ptr::null_mut(),
                0,
                libc::MSG_PEEK | libc::MSG_TRUNC,
            )
        };
        if len < 0 {
            return Err(std::io::Error::last_os_error()).context("reading from criu");
        }
        if len == 0 {
            bail!("criu exited unexpectedly (no response)");
        }
        let mut data = vec![0u8; len as usize];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
        // u64s: aligned for cmsghdr, which a Vec<u8> need not be.
        let mut cbuf = vec![0u64; space.div_ceil(8)];
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("reading from criu");
        }
        let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        let received = if !c.is_null() && unsafe { (*c).cmsg_type } == libc::SCM_RIGHTS {
            let raw = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd) };
            Some(unsafe { OwnedFd::from_raw_fd(raw) })
        } else {
            None
        };
        data.truncate(n as usize);
        Ok((data, received))
    }

    /// Closes our end (a pre-dump CRIU waits for more requests until then), waits for CRIU
    /// and returns how it ended with what it wrote on stderr (captured for CriuStdio::Null).
    pub fn finish(self) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let Swrk { mut child, sock } = self;
        drop(sock);
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        loop {
            match child.wait() {
                Ok(s) => return (s, err),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return (std::os::unix::process::ExitStatusExt::from_raw(0), err),
            }
        }
    }
}

fn spawn_error(criu: &Path, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow!(
            "checkpoint/restore needs criu {} or newer: {} not found (install criu or give its path with --criu)",
            super::version::format(super::version::MIN),
            criu.display()
        )
    } else {
        anyhow!("starting {}: {e}", criu.display())
    }
}
