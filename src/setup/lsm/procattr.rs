//! The calling thread's LSM attributes (`/proc/thread-self/attr/...`), reached through a procfs
//! that hull checked itself. What the container's /proc shows is not ours to trust (a volume
//! mounted there, a process of the container covering a file with its own mount); an attribute
//! written to a fake file would leave the program silently unconfined (runc's CVE-2019-16884). So the lookup starts from a fresh, detached procfs instance that nothing
//! can have covered or, where the kernel refuses one, from a /proc verified to be a procfs root,
//! and it may not cross any mount on the way.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::util::path::{fs_magic, PROC_SUPER_MAGIC};
/// Inode number of every procfs root directory.
const PROC_ROOT_INO: u64 = 1;
const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x02;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x04;
const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x08;

/// The root of a procfs of our pid namespace.
pub struct ProcRoot(OwnedFd);

fn check(r: libc::c_long) -> std::io::Result<libc::c_long> {
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

/// A new procfs instance as a detached mount (fsopen/fsmount): it is in no mount table, so no
/// mount can ever cover a file in it.
fn private_procfs() -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscalls on fds we own; the strings are NUL-terminated literals.
    unsafe {
        let fs = check(libc::syscall(
            libc::SYS_fsopen,
            c"proc".as_ptr(),
            FSOPEN_CLOEXEC,
        ))?;
        let fs = OwnedFd::from_raw_fd(fs as i32);
        check(libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        ))?;
        let mnt = check(libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
        ))?;
        Ok(OwnedFd::from_raw_fd(mnt as i32))
    }
}

/// `fd` is the root directory of a procfs (not another filesystem, nor a procfs subdirectory
/// such as /proc/1 bind-mounted over /proc).
fn check_procfs_root(fd: &OwnedFd) -> Result<()> {
    let magic = fs_magic(fd).context("fstatfs /proc")?;
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat fills the struct we pass (no path lookup through a /proc we do not trust).
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error()).context("fstat /proc");
    }
    let ino = st.st_ino;
    if magic != PROC_SUPER_MAGIC || ino != PROC_ROOT_INO {
        bail!("/proc is not the root of a procfs (magic {magic:#x}, inode {ino}): refusing to set LSM attributes through it");
    }
    Ok(())
}

impl ProcRoot {
    pub fn open() -> Result<ProcRoot> {
        match private_procfs() {
            Ok(fd) => Ok(ProcRoot(fd)),
            Err(e) => {
                // Older kernels, or a user namespace whose mount namespace shows no full procfs.
                crate::logging::debug(&format!(
                    "private procfs for LSM attributes: {}; using /proc",
                    crate::util::errno_text(&e)
                ));
                let fd = crate::util::path::openat2(
                    libc::AT_FDCWD,
                    Path::new("/proc"),
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                    0,
                    0,
                )
                .context("open /proc")?;
                check_procfs_root(&fd)?;
                Ok(ProcRoot(fd))
            }
        }
    }

    /// Opens `thread-self/attr/<rel>` for writing. The lookup may follow procfs's own
    /// thread-self link but cross no mount (an overmount fails with EXDEV) and no magic link.
    pub fn open_attr(&self, rel: &str) -> std::io::Result<File> {
        let path = format!("thread-self/attr/{rel}");
        let fd = crate::util::path::openat2(
            self.0.as_raw_fd(),
            Path::new(&path),
            libc::O_WRONLY | libc::O_NOFOLLOW,
            0,
            RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
        )?;
        if fs_magic(&fd)? != PROC_SUPER_MAGIC {
            return Err(std::io::Error::from_raw_os_error(libc::EXDEV));
        }
        Ok(File::from(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_dir(p: &str) -> OwnedFd {
        crate::util::path::open_root(Path::new(p)).unwrap()
    }

    #[test]
    fn only_a_procfs_root_is_trusted() {
        assert!(check_procfs_root(&open_dir("/proc")).is_ok());
        // a procfs directory that is not the root (what a bind of /proc/1 over /proc shows)
        assert!(check_procfs_root(&open_dir("/proc/self")).is_err());
        assert!(check_procfs_root(&open_dir("/")).is_err());
    }

    #[test]
    fn a_private_procfs_is_a_procfs_root() {
        // The main path (root, Linux 5.2+; hull needs 5.6 for openat2 anyway).
        let fd = private_procfs().expect("fsopen proc");
        assert!(check_procfs_root(&fd).is_ok());
    }

    #[test]
    fn attr_files_open_through_the_handle() {
        let root = ProcRoot::open().unwrap();
        // Opening needs no LSM (writing does): the lookup through thread-self works.
        assert!(root.open_attr("exec").is_ok());
        let e = root.open_attr("no-such-attr").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }
}
