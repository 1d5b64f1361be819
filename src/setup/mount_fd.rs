//! The new mount API (open_tree, move_mount, mount_setattr) for mounts that are prepared as a
//! detached tree and attached later: bind sources opened with the host's credentials and
//! handed to an init in a user namespace, and idmapped mounts.

use anyhow::{Context, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// A detached copy of the mount tree at `path` (just its top mount unless `recursive`),
/// close-on-exec, that can be attached anywhere with [`attach`].
pub fn clone_tree(path: &Path, recursive: bool) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches the detached tree `tree` on the (O_PATH) `target`.
pub fn attach(tree: &OwnedFd, target: &OwnedFd) -> Result<()> {
    let empty = c"";
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("move_mount");
    }
    Ok(())
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr on `fd` (a mount or a detached tree), recursively or not.
pub fn setattr(
    fd: &OwnedFd,
    recursive: bool,
    set: u64,
    clr: u64,
    userns: Option<&OwnedFd>,
) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A bind source to open as a detached tree (see process::mount_source), optionally idmapped.
#[derive(Debug, PartialEq)]
pub struct SourceRequest {
    pub path: std::path::PathBuf,
    /// rbind: clone the whole tree, not just the top mount.
    pub recursive: bool,
    pub idmap: Option<IdmapRequest>,
}

/// Mappings for an idmapped mount, in uid_map syntax.
#[derive(Debug, PartialEq)]
pub struct IdmapRequest {
    pub uid_map: String,
    pub gid_map: String,
    /// Idmap every mount of the tree (ridmap), not just its top.
    pub recursive: bool,
}

impl SourceRequest {
    /// flags byte, path, NUL, uid map, NUL, gid map.
    pub fn encode(&self) -> Vec<u8> {
        let mut flags = self.recursive as u8;
        if let Some(i) = &self.idmap {
            flags |= 2 | ((i.recursive as u8) << 2);
        }
        let mut v = vec![flags];
        v.extend_from_slice(self.path.as_os_str().as_bytes());
        if let Some(i) = &self.idmap {
            v.push(0);
            v.extend_from_slice(i.uid_map.as_bytes());
            v.push(0);
            v.extend_from_slice(i.gid_map.as_bytes());
        }
        v
    }

    pub fn decode(b: &[u8]) -> Option<SourceRequest> {
        let (&flags, rest) = b.split_first()?;
        let mut parts = rest.split(|c| *c == 0);
        let path = Path::new(std::ffi::OsStr::from_bytes(parts.next()?)).to_path_buf();
        let idmap = if flags & 2 != 0 {
            let text = |p: Option<&[u8]>| p.and_then(|p| String::from_utf8(p.to_vec()).ok());
            Some(IdmapRequest {
                uid_map: text(parts.next())?,
                gid_map: text(parts.next())?,
                recursive: flags & 4 != 0,
            })
        } else {
            None
        };
        Some(SourceRequest {
            path,
            recursive: flags & 1 != 0,
            idmap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let r = SourceRequest {
            path: "/a b/c".into(),
            recursive: true,
            idmap: Some(IdmapRequest {
                uid_map: "0 100000 65536\n".into(),
                gid_map: "0 200000 1\n1 300000 5\n".into(),
                recursive: true,
            }),
        };
        assert_eq!(SourceRequest::decode(&r.encode()), Some(r));
        let r = SourceRequest {
            path: "/dev/null".into(),
            recursive: false,
            idmap: None,
        };
        assert_eq!(SourceRequest::decode(&r.encode()), Some(r));
    }

    /// Property: the parent decodes what a less privileged process sent, so any bytes decode
    /// without a panic, and any request without a NUL in its fields round-trips.
    #[test]
    fn decode_holds_on_arbitrary_bytes() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        fn text(next: &mut impl FnMut() -> u64, most: u64) -> String {
            let len = next() % most;
            (0..len)
                .map(|_| ['/', 'a', ' ', '\n', 'é'][(next() % 5) as usize])
                .collect()
        }
        let alphabet = [0u8, 1, 2, 4, 7, b'/', b'a', b' ', b'\n', 0xff];
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = SourceRequest::decode(&bytes);
            let path = text(&mut next, 12);
            let recursive = next() % 2 == 0;
            let idmap = if next() % 2 == 0 {
                Some(IdmapRequest {
                    uid_map: text(&mut next, 8),
                    gid_map: text(&mut next, 8),
                    recursive: next() % 2 == 0,
                })
            } else {
                None
            };
            let r = SourceRequest {
                path: path.into(),
                recursive,
                idmap,
            };
            assert_eq!(SourceRequest::decode(&r.encode()), Some(r));
        }
    }
}
