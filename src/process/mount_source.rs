//! Bind sources for an init in a user namespace. Inside it, the container's root may not
//! traverse root-owned 0700 directories on the host (podman's userdata), so the init asks the
//! parent: the parent enters the init's mount namespace (so earlier container mounts are seen,
//! sources resolve at mount time, in order) with the host's credentials, clones the source
//! as a detached mount tree (open_tree) and passes the fd back; the init attaches it with
//! move_mount and closes it. No host fd outlives the mount step.

use super::sync::{Channel, Tag};
use crate::setup::mount_fd::{clone_tree, SourceRequest};
use anyhow::{bail, Context, Result};
use std::collections::hash_map::{Entry, HashMap};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Init side: the detached tree asked for, opened (and idmapped) by the parent.
pub fn request(chan: &Channel, req: &SourceRequest) -> Result<OwnedFd> {
    chan.send(Tag::MountSource, &req.encode())?;
    let (tag, data, fd) = recv_with_fd(chan.raw_fd())?;
    match (tag, fd) {
        (Some(Tag::MountSourceFd), Some(fd)) => Ok(fd),
        (Some(Tag::Error), _) => bail!("{}", String::from_utf8_lossy(&data)),
        (None, _) => bail!("sync: parent exited while opening a mount source"),
        (t, _) => bail!("sync: expected a mount source fd, got {t:?}"),
    }
}

/// Parent side, for one init: the namespaces and directories it moves between (opened at
/// the first request), and the idmap user namespaces built so far (one per distinct mapping).
pub struct Server {
    theirs: OwnedFd,
    ours: OwnedFd,
    root: OwnedFd,
    cwd: OwnedFd,
    idmaps: HashMap<(String, String), OwnedFd>,
}

impl Server {
    pub fn new(pid: i32) -> Result<Server> {
        let open = |p: &str| -> Result<OwnedFd> {
            Ok(std::fs::File::open(p)
                .with_context(|| format!("opening {p}"))?
                .into())
        };
        Ok(Server {
            theirs: open(&format!("/proc/{pid}/ns/mnt"))?,
            ours: open("/proc/self/ns/mnt")?,
            root: crate::util::path::open_root(Path::new("/"))?,
            cwd: crate::util::path::open_root(Path::new("."))?,
            idmaps: HashMap::new(),
        })
    }

    /// Answers one request. An error opening the source goes back to the init (which
    /// reports it with the mount it belongs to); an error returning to our own mount
    /// namespace is fatal for the create.
    pub fn serve(&mut self, chan: &Channel, payload: &[u8]) -> Result<()> {
        let Some(req) = SourceRequest::decode(payload) else {
            bail!("sync: malformed mount source request");
        };
        let path = &req.path;
        let opened = self.in_their_mount_ns(|| {
            clone_tree(path, req.recursive)
                .with_context(|| format!("bind source {}", path.display()))
        })?;
        let opened = opened.and_then(|tree| {
            if let Some(i) = &req.idmap {
                let key = (i.uid_map.clone(), i.gid_map.clone());
                let ns = match self.idmaps.entry(key) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => {
                        e.insert(crate::setup::idmap::userns_fd(&i.uid_map, &i.gid_map)?)
                    }
                };
                crate::setup::idmap::apply(&tree, ns, i.recursive)
                    .with_context(|| format!("idmapping {}", path.display()))?;
            }
            Ok(tree)
        });
        match opened {
            Ok(fd) => send_with_fd(chan.raw_fd(), Tag::MountSourceFd, &fd),
            Err(e) => chan.send(Tag::Error, format!("{e:#}").as_bytes()),
        }
    }

    /// Runs `f` in the init's mount namespace, then returns to ours with our root and cwd
    /// restored (setns resets both to the namespace's root).
    fn in_their_mount_ns<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        setns(&self.theirs, "into the container's mount namespace")?;
        let r = f();
        setns(&self.ours, "back to the runtime's mount namespace")?;
        if unsafe { libc::fchdir(self.root.as_raw_fd()) } != 0
            || unsafe { libc::chroot(c".".as_ptr()) } != 0
            || unsafe { libc::fchdir(self.cwd.as_raw_fd()) } != 0
        {
            return Err(std::io::Error::last_os_error()).context("restoring root and cwd");
        }
        Ok(r)
    }
}

fn setns(fd: &OwnedFd, what: &str) -> Result<()> {
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("setns {what}"));
    }
    Ok(())
}

fn send_with_fd(sock: RawFd, tag: Tag, fd: &OwnedFd) -> Result<()> {
    let byte = [tag as u8];
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut _,
        iov_len: 1,
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd.as_raw_fd());
    }
    if unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) } < 0 {
        return Err(std::io::Error::last_os_error()).context("sending a mount source fd");
    }
    Ok(())
}

/// One message: its tag (None at EOF), payload and the fd it carried, if any.
fn recv_with_fd(sock: RawFd) -> Result<(Option<Tag>, Vec<u8>, Option<OwnedFd>)> {
    let mut data = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    let n = loop {
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e).context("sync recvmsg");
        }
    };
    let c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    let fd = (!c.is_null() && unsafe { (*c).cmsg_type } == libc::SCM_RIGHTS).then(|| unsafe {
        OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const RawFd))
    });
    if n == 0 {
        return Ok((None, Vec::new(), fd));
    }
    data.truncate(n);
    let tag = Tag::from_byte(data.remove(0));
    Ok((tag.or(Some(Tag::Error)), data, fd))
}
